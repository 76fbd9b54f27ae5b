"""``bale login``: a browser-approved device login, in the shape of RFC 8628.

The CLI asks for a code pair (:meth:`Devices.start`): a long random *device code*, which only
the CLI knows and polls with, and a short *user code* the person types (or follows a link
with) on the dashboard, where, signed in, they approve it (:meth:`Devices.decide`). The next
poll (:meth:`Devices.poll`) then hands the CLI, once, a person-wide ``login`` token carrying
the approver's rights (see :meth:`bale.tokens.service.Tokens.create_personal`).

RFC 8628's known weakness is a person approving a code someone else started (section 5.4), so
nothing the unauthenticated start asks for shapes the token: the *approver* picks its lifetime
(``DEFAULT_TOKEN_TTL``, at most ``MAX_TOKEN_TTL``) and whether it may upload or only read
(read-only by default), and the page shows when and from which address the code was started.
Starts are limited per address (``MAX_STARTS``), and a user code names one pending login only:
``device_user_codes/{sha256(user code)}`` is claimed create-only, in the same atomic commit
that creates the code, so a second login drawing the same code draws again instead of sharing
(and, being newer, taking over) the first one's approval.

Only SHA-256 hashes of both codes are stored (``device_codes/{sha256(device code)}``), so a
read of the database gives no code that could be approved or redeemed. A code pair lives 10
minutes, is approved or denied once and redeemed once; polling faster than the interval gets
``slow_down`` and a longer interval, and the expiry bounds how long a CLI may poll at all;
a CLI that keeps polling too fast has its login cancelled (``MAX_SLOW_DOWNS``). A person may
look up at most ``MAX_FAILED_LOOKUPS`` codes that do not exist per ``LOOKUP_WINDOW`` (429
after that), so a signed-in account cannot sweep the user-code space for someone else's code.
No token secret is ever stored: the token is minted by the poll that redeems the approval.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from enum import StrEnum
from typing import TYPE_CHECKING, Final

from bale.clock import now
from bale.errors import BadRequest, BaleError, NotFound, Unavailable
from bale.forwarded import limit_key
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import from_snapshot
from bale.tokens.service import Permission, Token, TokenKind, Tokens

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, Transaction

#: How long a code pair may wait for approval and redemption (RFC 8628 ``expires_in``).
CODE_TTL: Final = dt.timedelta(minutes=10)
#: Seconds a CLI waits between polls, and what ``slow_down`` adds to it.
INTERVAL: Final = 5
SLOW_DOWN_STEP: Final = 5
#: A login token's lifetime unless the approver picks another, and the longest they may pick.
DEFAULT_TOKEN_TTL: Final = dt.timedelta(days=30)
MAX_TOKEN_TTL: Final = dt.timedelta(days=90)
#: The lifetimes the approval page offers, in days.
TTL_CHOICES: Final = (1, 7, 30, 90)
#: What a login token may be allowed, the first being the default.
LOGIN_PERMISSIONS: Final = (Permission.READ, Permission.UPLOAD)
#: What each of them lets a login token do, as the approval page says it.
LOGIN_LABELS: Final = {Permission.READ: "read only", Permission.UPLOAD: "read and upload"}
#: Codes one address (an IPv6 /64) may start per window; then 429 until the window ends.
MAX_STARTS: Final = 20
START_WINDOW: Final = dt.timedelta(minutes=10)
#: Draws of a user code that is taken before giving up (20^8 codes: a second draw is rare).
USER_CODE_DRAWS: Final = 8
#: Codes that do not exist one person may look up per window (RFC 8628 section 5.1: rate-limit
#: user-code guesses); then every look-up is 429 until the window ends.
MAX_FAILED_LOOKUPS: Final = 10
LOOKUP_WINDOW: Final = dt.timedelta(minutes=10)
#: ``slow_down`` answers after which the login is cancelled (a well-behaved CLI gets none).
MAX_SLOW_DOWNS: Final = 10
# Consonants and no look-alikes (RFC 8628 section 6.1): 20^8 codes, 10 minutes each.
_ALPHABET: Final = "BCDFGHJKLMNPQRSTVWXZ"
_USER_CODE: Final = re.compile(r"^[BCDFGHJKLMNPQRSTVWXZ]{8}$")
_CLIENT_NAME: Final = re.compile(r"[^A-Za-z0-9 ._@()-]")


class DeviceStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    USED = "used"


class DeviceError(BaleError):
    """An RFC 8628 token-endpoint error: ``code`` is the ``error`` field the CLI acts on."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass
class DeviceCode:
    """A ``bale login`` in progress (the document's ID is the SHA-256 of the device code)."""

    id: str
    user_code_sha256: str
    status: DeviceStatus | str
    created_at: dt.datetime
    expires_at: dt.datetime
    #: Chosen by the approver (0 until then).
    token_ttl_seconds: int = 0
    #: The machine's name as the requester sent it: a claim, never checked.
    client_name: str = ""
    #: The address the code was started from, as the trusted proxies reported it.
    requested_from: str = ""
    #: Chosen by the approver ("" until then).
    permission: str = ""
    interval: int = INTERVAL
    last_poll_at: dt.datetime | None = None
    approved_by: str | None = None
    decided_at: dt.datetime | None = None
    token_id: str | None = None
    slow_downs: int = 0

    @property
    def token_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.token_ttl_seconds) if self.token_ttl_seconds else DEFAULT_TOKEN_TTL

    @property
    def token_permission(self) -> Permission:
        # A code approved before the approver chose (or with nothing recorded) reads only.
        return Permission.UPLOAD if self.permission == Permission.UPLOAD else Permission.READ

    @property
    def expired(self) -> bool:
        return self.expires_at <= now()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalize_user_code(text: str) -> str:
    """'bcdf-ghjk' (as typed) -> 'BCDFGHJK'; BadRequest if it cannot be a code."""
    code = re.sub(r"[\s-]", "", text or "").upper()
    if not _USER_CODE.match(code):
        raise BadRequest("That is not a login code: it has 8 letters, like BCDF-GHJK.")
    return code


def display_user_code(code: str) -> str:
    """'BCDFGHJK' -> 'BCDF-GHJK'."""
    return f"{code[:4]}-{code[4:]}"


def token_ttl(days: str | int | None) -> dt.timedelta:
    """The lifetime the approver picked, in whole days (1 to 90); the default when empty."""
    if days in (None, ""):
        return DEFAULT_TOKEN_TTL
    try:
        n = int(str(days).strip())
    except ValueError:
        raise BadRequest(f"Pick how many days the token lives (1 to {MAX_TOKEN_TTL.days}).") from None
    if not 1 <= n <= MAX_TOKEN_TTL.days:
        raise BadRequest(f"A login token lives 1 to {MAX_TOKEN_TTL.days} days, not {n}.")
    return dt.timedelta(days=n)


def login_permission(text: str | None) -> Permission:
    """'read' (the default when empty) or 'upload'; BadRequest for anything else."""
    if not text:
        return LOGIN_PERMISSIONS[0]
    for p in LOGIN_PERMISSIONS:
        if text == p.value:
            return p
    raise BadRequest("A login token may read, or read and upload: pick one.")


def new_user_code() -> str:
    """Eight random letters of ``_ALPHABET`` (tests replace this to force collisions)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


class Devices:
    """Starting, approving and redeeming ``bale login`` codes."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def start(self, *, client_name: str = "", requested_from: str = "") -> tuple[str, str, DeviceCode]:
        """A new code pair: (device code, user code 'BCDFGHJK', its record).

        ``requested_from`` is the requester's address (see :mod:`bale.forwarded`): shown to the
        approver, and at most ``MAX_STARTS`` codes per window may come from it (429)."""
        from google.api_core import exceptions as gexc

        self._check_starts(requested_from)
        device_code = secrets.token_urlsafe(32)
        created = now()
        ref = self.db.document(paths.device_code(_sha(device_code)))
        record = DeviceCode(
            id=ref.id,
            user_code_sha256="",
            status=DeviceStatus.PENDING,
            created_at=created,
            expires_at=created + CODE_TTL,
            client_name=_CLIENT_NAME.sub("", client_name or "")[:64].strip(),
            requested_from=requested_from,
        )
        # A TTL policy on purge_at removes spent codes and claims.
        purge_at = record.expires_at + dt.timedelta(days=1)
        user_code = new_user_code()
        for _ in range(USER_CODE_DRAWS):
            record.user_code_sha256 = _sha(user_code)
            claim_ref = self.db.document(paths.device_user_code(record.user_code_sha256))
            data = dataclasses.asdict(record)
            del data["id"]
            data["status"] = str(record.status)
            data["purge_at"] = purge_at
            # The claim on the user code and the code itself commit together or not at all, and
            # the claim is create-only: of two logins drawing one code, the second's commit
            # fails whole and it draws again. (A batched write rather than a transaction: the
            # create precondition is all the isolation needed, and it takes no lock that racing
            # starts would queue on.)
            batch = self.db.batch()
            batch.create(claim_ref, {"device": ref.id, "expires_at": record.expires_at, "purge_at": purge_at})
            batch.create(ref, data)
            try:
                batch.commit()
            except gexc.Conflict:
                if not self._free_expired_claim(claim_ref):
                    user_code = new_user_code()
                continue  # an expired claim was removed: the same code is free to take
            self._note_start(requested_from)
            return device_code, user_code, record
        raise Unavailable("Could not draw a free login code; run bale login again.")

    def _free_expired_claim(self, claim_ref: DocumentReference) -> bool:
        """Delete the claim if its login has expired (True); a live claim stays (False). The
        delete is conditional on the claim being the one read, so a login that claimed the code
        meanwhile keeps it."""
        from google.api_core import exceptions as gexc

        snap = claim_ref.get()
        if not snap.exists:
            return True  # freed meanwhile
        if snap.get("expires_at") > now():
            return False
        try:
            claim_ref.delete(option=self.db.write_option(last_update_time=snap.update_time))
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Conflict):
            return False
        return True

    def _starts_ref(self, address: str) -> DocumentReference:
        window = int(now().timestamp() // START_WINDOW.total_seconds())
        return self.db.document(paths.device_starts(_sha(f"{limit_key(address)}\n{window}")))

    def _check_starts(self, address: str) -> None:
        # Counted in Firestore, not in the instance: Cloud Run spreads a flood over instances
        # and starts more of them under it, so a count per instance would multiply the limit.
        # Read, then increment after the start (not in one transaction: a flood from one
        # address would contend on one document); racing starts may pass the limit by the
        # number in flight at once, which bounds nothing worse.
        snap = self._starts_ref(address).get()
        if snap.exists and int(snap.get("count") or 0) >= MAX_STARTS:
            window = START_WINDOW.total_seconds()
            left = int(window - now().timestamp() % window) + 1
            raise BaleError(
                f"Too many logins started from your address: try again in {left} seconds.",
                status=429,
                headers={"Retry-After": str(left)},
            )

    def _note_start(self, address: str) -> None:
        from google.cloud import firestore

        self._starts_ref(address).set(
            {"count": firestore.Increment(1), "purge_at": now() + 2 * START_WINDOW}, merge=True
        )

    def _attempts_ref(self, who: str) -> DocumentReference:
        window = int(now().timestamp() // LOOKUP_WINDOW.total_seconds())
        return self.db.document(paths.device_attempts(_sha(f"{who.lower()}\n{window}")))

    def _check_attempts(self, who: str) -> None:
        snap = self._attempts_ref(who).get()
        if snap.exists and int(snap.get("count") or 0) >= MAX_FAILED_LOOKUPS:
            minutes = int(LOOKUP_WINDOW.total_seconds() // 60)
            raise BaleError(
                f"Too many codes that do not exist: try again in up to {minutes} minutes, and copy "
                "the code from the terminal running bale login.",
                status=429,
                headers={"Retry-After": str(int(LOOKUP_WINDOW.total_seconds()))},
            )

    def _note_failure(self, who: str) -> None:
        from google.cloud import firestore

        # An atomic increment: racing guesses from many tabs are all counted.
        self._attempts_ref(who).set(
            {"count": firestore.Increment(1), "purge_at": now() + 2 * LOOKUP_WINDOW}, merge=True
        )

    def find(self, user_code: str, *, who: str | None = None) -> DeviceCode:
        """The pending code a person typed; 404 if unknown, 400 if expired or decided already.

        ``who`` (the signed-in person looking it up) is refused with 429 after
        ``MAX_FAILED_LOOKUPS`` unknown codes in a window."""
        code = normalize_user_code(user_code)
        if who is not None:
            self._check_attempts(who)
        claim = self.db.document(paths.device_user_code(_sha(code))).get()
        snap = self.db.document(paths.device_code(claim.get("device"))).get() if claim.exists else None
        if snap is None or not snap.exists:
            if who is not None:
                self._note_failure(who)
            raise NotFound(f"No login is waiting for code {display_user_code(code)}; check the code.")
        record = from_snapshot(DeviceCode, snap)
        self._check_pending(record, code)
        return record

    @staticmethod
    def _check_pending(record: DeviceCode, code: str) -> None:
        shown = display_user_code(code)
        if record.status != DeviceStatus.PENDING:
            raise BadRequest(f"Code {shown} was used already; run bale login again for a new one.")
        if record.expired:
            raise BadRequest(f"Code {shown} has expired (codes last 10 minutes); run bale login again.")

    def decide(
        self,
        user_code: str,
        email: str,
        *,
        approve: bool,
        ttl: dt.timedelta = DEFAULT_TOKEN_TTL,
        permission: Permission = LOGIN_PERMISSIONS[0],
    ) -> DeviceCode:
        """Approve (as ``email``, for a token of ``permission`` living ``ttl``) or deny a pending
        code, once; refused if expired or decided."""
        from google.cloud import firestore

        if permission not in LOGIN_PERMISSIONS:
            raise BadRequest("A login token may read, or read and upload.")
        if not dt.timedelta(days=1) <= ttl <= MAX_TOKEN_TTL:
            raise BadRequest(f"A login token lives 1 to {MAX_TOKEN_TTL.days} days.")
        code = normalize_user_code(user_code)
        ref = self.db.document(paths.device_code(self.find(code, who=email).id))

        @firestore.transactional
        def txn(tx: Transaction) -> DeviceCode:
            record = from_snapshot(DeviceCode, ref.get(transaction=tx))
            self._check_pending(record, code)  # decided by another tab meanwhile: refused
            record.status = DeviceStatus.APPROVED if approve else DeviceStatus.DENIED
            record.approved_by = email.lower() if approve else None
            record.decided_at = now()
            record.token_ttl_seconds = int(ttl.total_seconds()) if approve else 0
            record.permission = permission.value if approve else ""
            tx.update(
                ref,
                {
                    "status": str(record.status),
                    "approved_by": record.approved_by,
                    "decided_at": record.decided_at,
                    "token_ttl_seconds": record.token_ttl_seconds,
                    "permission": record.permission,
                },
            )
            return record

        result: DeviceCode = txn(self.db.transaction())
        return result

    def poll(self, device_code: str) -> tuple[str, Token]:
        """The CLI's poll: the token (once) if approved, else a DeviceError saying why not."""
        from google.cloud import firestore

        if not device_code:
            raise DeviceError("invalid_request", "device_code is required.")
        ref = self.db.document(paths.device_code(_sha(device_code)))

        @firestore.transactional
        def txn(tx: Transaction) -> DeviceCode | DeviceError:
            snap = ref.get(transaction=tx)
            if not snap.exists:
                return DeviceError("invalid_grant", "Unknown device code.")
            record = from_snapshot(DeviceCode, snap)
            t = now()
            if record.status == DeviceStatus.USED:
                return DeviceError("invalid_grant", "This login was completed already.")
            if record.status == DeviceStatus.DENIED:
                return DeviceError("access_denied", "The login was denied on the dashboard.")
            if record.expired:
                return DeviceError(
                    "expired_token", "The code expired before it was approved; run bale login again."
                )
            if record.status == DeviceStatus.APPROVED:
                tx.update(ref, {"status": str(DeviceStatus.USED), "last_poll_at": t})
                return record
            if record.last_poll_at is not None and t - record.last_poll_at < dt.timedelta(
                seconds=record.interval
            ):
                if record.slow_downs + 1 >= MAX_SLOW_DOWNS:
                    # Still pending: cancelled, so it can no longer be approved either.
                    tx.update(ref, {"status": str(DeviceStatus.DENIED), "last_poll_at": t})
                    return DeviceError(
                        "access_denied",
                        "Polled too fast too often: this login is cancelled; run bale login again.",
                    )
                interval = record.interval + SLOW_DOWN_STEP
                tx.update(ref, {"interval": interval, "last_poll_at": t, "slow_downs": record.slow_downs + 1})
                return DeviceError("slow_down", f"Polling too fast: wait {interval} seconds between polls.")
            tx.update(ref, {"last_poll_at": t})
            return DeviceError("authorization_pending", "Waiting for approval on the dashboard.")

        # Errors are returned, not raised, so the poll's own update commits with them.
        outcome = txn(self.db.transaction())
        if isinstance(outcome, DeviceError):
            raise outcome
        assert outcome.approved_by is not None
        secret, token = Tokens(self.stores).create_personal(
            outcome.approved_by,
            TokenKind.LOGIN,
            outcome.token_permission,
            expires_in=min(outcome.token_ttl, MAX_TOKEN_TTL),
            description=describe(outcome),
        )
        ref.update({"token_id": token.id})
        return secret, token


def describe(record: DeviceCode) -> str:
    """The token's description: what the requester claimed and where the code came from."""
    name = (
        f"bale login on {record.client_name!r} (as the requester named it)"
        if record.client_name
        else "bale login"
    )
    return f"{name} from {record.requested_from}" if record.requested_from else name
