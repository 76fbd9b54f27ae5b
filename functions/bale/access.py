"""Who may do what: the one place a request's access is decided.

Every entry point asks here and nowhere else: the Simple API (pages, files, the Integrity
API), the upload endpoint, and the dashboard's views of a team. :func:`require` takes the
request's credentials, a permission, the team and index (and project) the request is for, and
answers with the principal and the documents the caller asked to have read in the same round
trip, or refuses (401 with the challenge installers need, 403 saying what is missing, or for a
browser navigating the Simple API, a redirect to sign in).

What decides, per kind of token:

* **a team's token** (``api``, made by a team admin or the CLI; IDs ``t…``): its scope alone:
  team, index, projects (None: all) and permission (``read``, ``upload``, or ``publish``: upload
  only);
* **a person's token** (``api`` with an ``owner``; IDs ``p…``): its scope, and its owner's rights
  as they are now, read from the team's roster fetched with the token: a member to read, an
  admin or a writer of the index to upload;
* **a person-wide token** (``login`` from ``bale login``, ``browser`` from a dashboard sign-in;
  team and index ``*``): every team and index, with its owner's current rights there;
* **a Trusted Publishing token** (``oidc``): upload only, to its grants' indexes and projects;
  the attestations uploaded with it are checked against its publisher's identity;
* **a Trusted Access token** (``access``, from ``/_/oidc/read-token``, an hour at most): read
  only, the indexes of its grants (every project in them), never an upload.

Beyond a request to an index, the same module decides what a token may do to itself (a Trusted
Publishing token is burned, a login token logs out), which tokens are a person's own (their "My
tokens"), what a person may do by hand in a team (make an upload token, be made a writer,
enroll a trusted accessor), and which request handlers are the door (``DOOR``): the
architecture test holds every entry point to asking one of them, and every comparison of token
kinds, roles and permissions to living here.

Reads go through a per-process token cache (:mod:`bale.tokens.cache`, a few seconds): a warm
read costs no Firestore read for the token (:func:`require_cached`). The roster travels with
the token, as a value, in a :class:`Principal`. Rights are decided on every request, cached or
not. Uploads read the token every time, so a revoked token never writes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from packaging.utils import canonicalize_name

from bale.errors import BadRequest, BaleError, Forbidden, NotFound, Unauthorized
from bale.names import validate_team
from bale.provenance.identity import Identity
from bale.store import paths
from bale.store.backends import Stores
from bale.tenancy.service import Role, Roster, Tenancy, has_roster, roster_role
from bale.tokens.cache import TokenCache
from bale.tokens.credentials import BROWSER_COOKIE, token_from_header
from bale.tokens.service import REALM, Permission, PermissionName, Token, TokenKind, Tokens

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

#: The dashboard's sign-in page (same host), where a browser without credentials is sent.
SIGNIN: Final = "/signin"
#: The actor of the operator's CLI (``bale admin``, with the service account's own credentials):
#: no person, and every team's administration is theirs.
OPERATOR: Final = "cli"


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the token it presented and, when the token may be a person's,
    the roster of the team the request is for (read with the token, in the same round trip)."""

    token: Token
    roster: Roster | None = None

    @property
    def expires_at(self) -> dt.datetime | None:
        return self.token.expires_at


#: Principals this instance authenticated in the last ``Settings.token_cache_seconds`` (reads).
_cache: TokenCache[Principal] = TokenCache()


def clear_cache() -> None:
    """Forget every cached token (tests clear the emulators between tests)."""
    _cache.clear()


# -- the decision -------------------------------------------------------------------------


def scope_refusal(
    token: Token, permission: Permission | PermissionName, team: str, index: str, project: str | None = None
) -> str | None:
    """None if the token's own scope allows ``permission`` in ``team/index`` (and ``project``),
    else a sentence saying what is missing. A person-wide token matches every team and index
    here: its owner's rights there are :func:`owner_refusal`'s to decide."""
    if token.person_wide:
        scope: tuple[str, str, list[str] | None] | None = (team, index, None)
    else:
        scope = next((sc for sc in token.scopes() if sc[:2] == (team, index)), None)
    if scope is None:
        if len(token.scopes()) > 1:  # other teams' grants are not the caller's to read
            return f"This token is not for {team}/{index}."
        return f"This token is for {token.team}/{token.index}, not {team}/{index}."
    if permission != Permission.READ and token.kind == TokenKind.ACCESS:
        # Trusted Access reads, whatever its record says: its exchange never grants more.
        return f"A Trusted Access token can only read {team}/{index}; uploading needs Trusted Publishing."
    if permission == Permission.UPLOAD and token.permission not in (Permission.UPLOAD, Permission.PUBLISH):
        return f"This token can only read {team}/{index}; uploading needs an upload token."
    if permission == Permission.READ and upload_only(token):
        what = "A Trusted Publishing token" if token.kind == TokenKind.OIDC else "This token"
        return (
            f"{what} can only upload to {team}/{index}; it cannot list, read or download "
            "packages. Use a read token to install."
        )
    projects = scope[2]
    if project is not None and projects is not None and canonicalize_name(project) not in projects:
        return f"This token may not {permission} project {project!r}; it is limited to {', '.join(projects)}."
    return None


def upload_only(token: Token) -> bool:
    """A ``publish`` token, or one Trusted Publishing minted (before ``publish``, as upload):
    it uploads, and never lists, reads or downloads."""
    return token.permission == Permission.PUBLISH or token.kind == TokenKind.OIDC


def can(
    token: Token, permission: Permission | PermissionName, team: str, index: str, project: str | None = None
) -> bool:
    """Whether the token's scope allows it (see :func:`scope_refusal`)."""
    return scope_refusal(token, permission, team, index, project) is None


def person_refusal(
    person: str,
    role: Role | None,
    permission: Permission | PermissionName,
    team: str,
    index: str,
    writers: list[str] | None = None,
) -> str | None:
    """None if ``person``, whose role in ``team`` is ``role`` (None: not a member), may
    ``permission`` in ``team/index`` (``writers``: the index's, for an upload), else why not."""
    if role is None:
        return f"This token belongs to {person}, who is no longer a member of {team}."
    if (
        permission in (Permission.UPLOAD, Permission.PUBLISH)
        and role != Role.ADMIN
        and person not in (writers or [])
    ):
        return f"This token belongs to {person}, who no longer has write access to {team}/{index}."
    return None


def owner_refusal(
    stores: Stores | None,
    principal: Principal,
    permission: Permission | PermissionName,
    team: str,
    index: str,
    writers: list[str] | None = None,
) -> str | None:
    """None if the token's owner (a person's token) may still ``permission`` in ``team/index``
    (``writers``: the index's, for an upload), else why not. A token that is no person's: None.
    Ask after :func:`scope_refusal` passed (the token is for this team).

    The role comes from the roster read with the token; only a principal without it (or a
    team from before the roster) costs a read here (``stores`` None: that read is refused)."""
    token = principal.token
    person = token.person
    if person is None:
        return None
    if token.person_wide and team in (token.revoked_teams or {}):
        # A team admin revoked this person's sign-in token for their team only.
        return f"This token of {person} was revoked in {team} by a team admin."
    roster = principal.roster
    # A team that does not exist has no members: no read for that either.
    if roster is not None and roster.team == team and (roster.doc is None or has_roster(roster.doc)):
        role = roster_role(roster.doc, person)
    else:
        if stores is None:
            raise ValueError(f"The roster of {team} was not read with the token.")
        tenancy = Tenancy(stores)
        if roster is not None and roster.team == team:
            team_doc = roster.doc
        else:
            snap = tenancy.team_ref(team).get()
            team_doc = snap.to_dict() if snap.exists else None
        role = tenancy.role_from(team, person, team_doc)
    return person_refusal(person, role, permission, team, index, writers)


def refusal(
    principal: Principal,
    permission: Permission | PermissionName,
    team: str,
    index: str,
    project: str | None = None,
    *,
    writers: list[str] | None = None,
    stores: Stores | None = None,
) -> str | None:
    """The whole decision: None if the principal may ``permission`` ``project`` (None: the
    index itself) in ``team/index``, else why not: the token's scope first, then its owner's
    current rights. Reads nothing when the principal carries the team's roster."""
    return scope_refusal(principal.token, permission, team, index, project) or owner_refusal(
        stores, principal, permission, team, index, writers
    )


def confirm(
    principal: Principal,
    permission: Permission | PermissionName,
    team: str,
    index: str,
    project: str | None = None,
) -> None:
    """Forbidden unless the principal's token may ``permission`` ``project`` in ``team/index``:
    for an upload, once its filename names the project (the owner's rights were checked by
    :func:`require`)."""
    why = scope_refusal(principal.token, permission, team, index, project)
    if why:
        raise Forbidden(why)


def visible_projects(principal: Principal, team: str, index: str) -> list[str] | None:
    """The projects of ``team/index`` the principal may see listed (None: all of them)."""
    return principal.token.projects_for(team, index)


def attestation_identity(principal: Principal) -> Identity | None:
    """The publisher identity attestations uploaded by the principal are checked against: a
    Trusted Publishing token's (None for any other token)."""
    token = principal.token
    return Identity.from_dict(token.identity) if token.kind == TokenKind.OIDC else None


# -- what a token may do to itself, and whose it is -----------------------------------------


def burn_refusal(token: Token) -> str | None:
    """None if ``/_/oidc/burn-token`` may revoke the token: one Trusted Publishing minted (uv
    burns it when it is done); any other token is revoked by whoever may manage it."""
    if token.kind != TokenKind.OIDC:
        return (
            "Only tokens minted by Trusted Publishing can be burned; revoke an API token "
            "with `bale admin revoke-token` or in the dashboard."
        )
    return None


def logout_refusal(token: Token) -> str | None:
    """None if the token may revoke itself (``bale logout``): a person's ``bale login`` token."""
    if token.kind != TokenKind.LOGIN or token.owner is None:
        return "Only a bale login token can revoke itself here."
    return None


def owns(token: Token, email: str) -> bool:
    """Whether the token is ``email``'s own: a person's token of theirs (made in the dashboard,
    or before ``owner`` existed, an API token they created) or one of their person-wide tokens.
    Their "My tokens" lists these, and lets them revoke these only."""
    return token.person == email


# -- what a person may do by hand in a team -----------------------------------------------


def admin_refusal(actor: str, role: Role | None, team: str, to: str) -> str | None:
    """None if ``actor``, whose role in ``team`` is ``role`` (None: not a member), may ``to``
    (a change only team admins make), else why not. The operator's CLI (:data:`OPERATOR`) may."""
    if actor == OPERATOR:
        return None
    if role != Role.ADMIN:
        return f"Only an admin of {team} can {to}."
    return None


def require_admin(stores: Stores, team: str, actor: str, *, to: str) -> None:
    """Forbidden unless ``actor`` is an admin of ``team`` now (read here), or the operator
    (see :func:`admin_refusal`). For a service that a person reaches by more than one way
    (the dashboard, and the CLI given ``--actor EMAIL``), so it checks again itself."""
    role = None if actor == OPERATOR else Tenancy(stores).role_of(team, actor)
    why = admin_refusal(actor, role, team, to)
    if why:
        raise Forbidden(why)


def may_upload(stores: Stores, team: str, index: str, email: str) -> bool:
    """Whether ``email`` may upload to ``team/index`` now, as :func:`person_refusal` decides
    for their tokens: an admin anywhere in the team, a member where made a writer. The index is
    read only for a member."""
    tenancy = Tenancy(stores)
    role = tenancy.role_of(team, email)
    writers: list[str] | None = None
    if role is not None and role != Role.ADMIN:
        snap = tenancy.index_ref(team, index).get()
        writers = (snap.to_dict() or {}).get("writers") if snap.exists else None
    return person_refusal(email.lower(), role, Permission.UPLOAD, team, index, writers) is None


def own_token_refusal(
    stores: Stores, email: str, permission: Permission | PermissionName | str, team: str, index: str
) -> str | None:
    """None if the member ``email`` may make themselves a ``permission`` token for
    ``team/index`` ("My tokens"): a read token for any index, an upload token where they may
    upload (the token then carries their rights as they are at each request)."""
    if permission == Permission.UPLOAD and not may_upload(stores, team, index, email):
        return (
            f"You may not upload to {team}/{index}: ask a team admin for write access, "
            "or create a read token."
        )
    return None


def writer_refusal(email: str, role: Role | None, team: str) -> str | None:
    """None if ``email``, whose role in ``team`` is ``role`` (None: not a member), may be made
    a writer of one of its indexes: a member of it now."""
    if role is None:
        return f"{email} is not a member of {team}; add them as a member first."
    return None


def _check_read(stores: Stores, principal: Principal, team: str, index: str, project: str | None) -> None:
    why = scope_refusal(principal.token, Permission.READ, team, index, project)
    if why:
        raise Forbidden(why)
    # A person's token reads only while its owner is a member of the team (the roster came in
    # the same round trip as the token).
    why = owner_refusal(stores, principal, Permission.READ, team, index)
    if why:
        raise Forbidden(why)


# -- credentials ---------------------------------------------------------------------------


def _presented(request: Request) -> tuple[str | None, bool]:
    """The raw token a request presents (None: none, or malformed) and whether it came in the
    browser cookie. Parses only: authentication is the caller's."""
    header = request.headers.get("Authorization")
    if header:
        try:
            return token_from_header(header), False
        except Unauthorized:
            return None, False
    return request.cookies.get(BROWSER_COOKIE) or None, True


def _sign_in(request: Request) -> BaleError:
    """A browser's page navigation without a (valid) credential goes to sign-in and back."""
    location = request.script_root + SIGNIN + "?next=" + quote(request.script_root + request.path, safe="/")
    return BaleError(f"Sign in at {location}", status=302, headers={"Location": location})


def _authenticate_read(
    request: Request, stores: Stores, also: Sequence[Any], team: str
) -> tuple[Principal, list[Any]]:
    """A read's principal: from the Authorization header, else (a browser signed in to the
    dashboard) the browser cookie. Installers (uv, pip, curl) get 401 with the challenge they
    need to send credentials; only a browser's navigation (``Sec-Fetch-Mode: navigate``) is
    redirected to sign in. The cookie is read for reads only (GET and HEAD), never for uploads."""
    tokens = Tokens(stores)
    header = request.headers.get("Authorization")
    cookie = None if header else request.cookies.get(BROWSER_COOKIE)
    navigate = request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"
    if not cookie:
        if not header and navigate:
            raise _sign_in(request)
        try:
            raw = token_from_header(header)
            token, roster, extra = tokens.authenticate_with(raw, also, team=team)
        except Unauthorized as exc:
            exc.headers["WWW-Authenticate"] = REALM
            raise
        assert raw is not None  # authenticate_with refuses a missing token
        principal = Principal(token, roster)
        _cache.put(raw, team, principal)
        return principal, list(extra)
    try:
        token, roster, extra = tokens.authenticate_with(cookie, also, team=team)
        if token.kind != TokenKind.BROWSER:
            raise Unauthorized("The browser cookie holds no browser token; sign in to the dashboard again.")
    except Unauthorized as exc:
        if navigate:  # expired or revoked (signed out): sign in again, and come back
            raise _sign_in(request) from None
        exc.headers["WWW-Authenticate"] = REALM
        raise
    principal = Principal(token, roster)
    _cache.put(cookie, team, principal)
    return principal, list(extra)


def _authenticate_header(
    stores: Stores, authorization: str | None, also: Sequence[Any], team: str | None
) -> tuple[Principal, list[Any]]:
    """The principal of an Authorization header (Basic ``__token__:…`` or Bearer), read now,
    or 401 with the ``WWW-Authenticate`` challenge on which uv and twine ask for credentials."""
    try:
        token, roster, extra = Tokens(stores).authenticate_with(
            token_from_header(authorization), also, team=team
        )
    except Unauthorized as exc:
        exc.headers["WWW-Authenticate"] = REALM
        raise
    return Principal(token, roster), list(extra)


# -- the door ------------------------------------------------------------------------------


def require(
    request: Request,
    stores: Stores,
    permission: Permission | PermissionName,
    team: str,
    index: str,
    project: str | None = None,
    *,
    also: Sequence[Any] = (),
) -> tuple[Principal, list[Any]]:
    """The request's principal, if it may ``permission`` in ``team/index`` (and ``project``);
    else 401, 403 (or a redirect to sign in, for a browser's read).

    The documents ``also`` are fetched in the same round trip as the token (and, for a person's
    token, the team's roster), but nothing about them is used unless this passes, so the answer
    for a token of another team, index or project never depends on what exists. Returns the
    principal and the snapshots of ``also``.

    An upload's snapshots start with the index document, read here in the same round trip: its
    writers decide a person's right to upload (404 if there is no such index, told only to a
    member of the team).
    """
    if permission == Permission.READ:
        principal, extra = _authenticate_read(request, stores, also, team)
        _check_read(stores, principal, team, index, project)
        return principal, extra
    index_ref = stores.db.document(paths.index(team, index))
    principal, snaps = _authenticate_header(
        stores, request.headers.get("Authorization"), [index_ref, *also], team
    )
    # A token for another team says nothing about this one: same answer either way.
    why = scope_refusal(principal.token, permission, team, index, project)
    if why:
        raise Forbidden(why)
    # A person-wide token matches every team: outside its owner's teams it is refused before
    # the index's existence shows (404 here would tell a stranger which indexes exist).
    why = owner_refusal(stores, principal, Permission.READ, team, index)
    if why:
        raise Forbidden(why)
    index_snap = snaps[0]
    if not index_snap.exists:
        raise NotFound(f"No index {team}/{index}.")
    # A person's token carries their rights as they are now: removed from the team, or no
    # longer an admin or a writer of this index, and their tokens stop uploading.
    why = owner_refusal(
        stores, principal, permission, team, index, writers=(index_snap.to_dict() or {}).get("writers")
    )
    if why:
        raise Forbidden(why)
    return principal, snaps


def require_cached(
    request: Request, stores: Stores, team: str, index: str, project: str | None = None
) -> Principal | None:
    """A read's principal, if this instance authenticated its token less than
    ``token_cache_seconds`` ago and it may read ``team/index`` (and ``project``), Forbidden if
    it may not; None if it is not cached (the caller then asks :func:`require`, in the same
    round trip as the documents it needs). No Firestore read either way."""
    raw, cookie = _presented(request)
    if not raw:
        return None
    principal = _cache.get(raw, team, stores.settings.token_cache_seconds)
    if principal is None or (cookie and principal.token.kind != TokenKind.BROWSER):
        return None
    _check_read(stores, principal, team, index, project)
    return principal


def authenticate_raw(stores: Stores, raw: str | None) -> Principal:
    """The principal of a token given as is (``/_/oidc/burn-token`` sends it in its body), read
    now, or Unauthorized: for a token that acts on itself (see :func:`burn_refusal`)."""
    token, roster, _ = Tokens(stores).authenticate_with(raw)
    return Principal(token, roster)


def authenticate(stores: Stores, authorization: str | None) -> Principal:
    """The principal of an Authorization header, read now, or Unauthorized: for a token that
    acts on itself (``bale logout`` revokes the login token it presents), not a request to a
    team's index, which :func:`require` answers."""
    return _authenticate_header(stores, authorization, (), None)[0]


def team_role(stores: Stores, team: str, email: str, *, admin: bool = False) -> Role:
    """A signed-in person's role in ``team``, for the dashboard's views of it: to anyone not a
    member the team does not exist (404); ``admin``: team admins only (403 to anyone else,
    whether or not the team exists)."""
    role = member_role(stores, team, email)
    if admin and role != Role.ADMIN:
        raise Forbidden(f"Only admins of team {team!r} may do this.")
    if role is None:
        raise NotFound(f"No team {team!r}, or you are not a member of it.")
    return role


def rights_of(stores: Stores, email: str) -> list[dict[str, Any]]:
    """What a person's login token may do, team by team, with their rights today: every index
    of their teams to read, and those :func:`person_refusal` lets them upload to (all of them
    for an admin, for a member those they were made a writer of)."""
    tenancy = Tenancy(stores)
    out = []
    for team, role in tenancy.teams_of(email):
        docs = {d["name"]: d for d in tenancy.list_indexes(team) if d.get("name")}
        indexes = sorted(docs)
        upload = [
            i
            for i in indexes
            if person_refusal(email, role, Permission.UPLOAD, team, i, docs[i].get("writers")) is None
        ]
        out.append({"team": team, "role": str(role), "read": indexes, "upload": upload})
    return out


def member_role(stores: Stores, team: str, email: str) -> Role | None:
    """A signed-in person's role in ``team`` (None: not a member, or no such team, or a name
    no team can have): what the dashboard's views of a team, its indexes and packages ask."""
    try:
        validate_team(team)
    except BadRequest:
        return None
    return Tenancy(stores).role_of(team, email)


# -- the scheduled advisories refresh ------------------------------------------------------

if TYPE_CHECKING:
    from collections.abc import Callable

    from bale.settings import Settings

#: Clock skew allowed on the scheduler's token's exp, in seconds.
_SCHEDULER_LEEWAY = 30
#: What Cloud Run puts in place of the signature of an ID token its invoker check has verified,
#: before the request reaches the container (Google's service-to-service authentication docs).
SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"


def require_scheduler(request: Request, settings: Settings, signing_key: Callable[[str], Any]) -> str:
    """The scheduler's service account (``settings.advisories_invoker``), if the request carries
    its Google ID token; else 401 (no token) or 403 (another caller, or none configured).

    In production Cloud Run checks the token first (invoker IAM, granted to that service account
    alone; terraform/advisories.tf never turns the check off for this function) and forwards it
    with the signature replaced by ``SIGNATURE_REMOVED_BY_GOOGLE``: such a token's claims are
    taken as verified. Any other token is verified here against the Google issuer's published
    keys (``settings.google_oidc_issuer``; ``signing_key(kid)`` gives the key of a kid), as a
    local stack or a misrouted request presents it.
    Either way its ``email`` must be the configured service account, verified, and unexpired.
    """
    import jwt

    invoker = settings.advisories_invoker
    if not invoker:
        raise Forbidden("The advisories refresh has no caller configured (BALE_ADVISORIES_INVOKER).")
    scheme, _, raw = (request.headers.get("Authorization") or "").partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or raw.count(".") != 2:
        raise Unauthorized("The advisories refresh needs the scheduler's Google ID token (Bearer).")
    head, body, signature = raw.split(".")
    try:
        if signature == SIGNATURE_REMOVED:
            claims = jwt.decode(
                f"{head}.{body}.",
                options={"verify_signature": False, "verify_exp": True, "require": ["exp", "email"]},
                leeway=_SCHEDULER_LEEWAY,
            )
        else:
            kid = jwt.get_unverified_header(raw).get("kid")
            key = signing_key(str(kid))
            # The audience is the function's own URL, which Cloud Run checks; it is not known here.
            claims = jwt.decode(
                raw,
                key,
                algorithms=["RS256"],
                issuer=settings.google_oidc_issuer,
                leeway=_SCHEDULER_LEEWAY,
                options={"verify_aud": False, "require": ["exp", "iss", "email"]},
            )
    except (jwt.PyJWTError, BaleError) as exc:
        raise Unauthorized(f"The scheduler's ID token is not valid: {exc}") from None
    email = str(claims.get("email") or "").lower()
    if email != invoker or claims.get("email_verified") is not True:
        raise Forbidden(f"{email or 'This caller'} may not run the advisories refresh.")
    return email
