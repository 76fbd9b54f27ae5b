"""Sign-in and sign-out.

The browser signs in with Firebase Auth itself (``static/signin.js`` calls the
Identity Toolkit REST API, so passwords never reach this server) and submits
the ID token to ``POST /session`` in a CSRF-protected form. The server checks it
and keeps a Firebase session cookie in the Flask session; ``load_user`` checks
that cookie on every request.

"Sign in with Google" is a server-side OAuth code flow (``google_oauth.py``):
``GET /auth/google`` leaves for Google, ``GET /auth/google/callback`` comes back,
and ends in the same session as email sign-in.

Sign-out revokes the session on the server as well as dropping the cookie, so a
copied cookie is refused from then on (``Identity.end_session``).

Each sign-in also mints the person a read-only, person-wide *browser token* (kind ``browser``,
expiring with the session) in its own HttpOnly, SameSite=Lax cookie (``BROWSER_COOKIE``), so
``/simple/TEAM/INDEX/`` and its files open in the browser: the Simple API (a function, which
cannot read this session) checks it like any token, with the person's current rights, for GET
and HEAD only. Sign-out revokes it, and so does finding the Firebase session gone. A browser the
Simple API sends back to ``/signin`` while signed in gets a new one from ``POST /signin`` (the
GET only renders the form that posts it), so no GET ever mints a token.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from bale.clock import now
from bale.errors import BadRequest, BaleError, NotFound, Unauthorized, Unavailable
from bale.tokens.credentials import BROWSER_COOKIE
from bale.tokens.service import Permission, TokenKind

from . import google_oauth
from .identity import SESSION_LIFETIME
from .services import current_user, services

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else goes home (no open redirect)."""
    if not target:
        return url_for("teams.home")
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return url_for("teams.home")
    return target


@bp.before_app_request
def load_user():
    g.user = None
    if request.endpoint == "static":
        return
    cookie = session.get("firebase")
    if cookie:
        g.user = services().identity.user_from_session(cookie)
        if g.user is None:
            session.pop("firebase", None)
            _end_browser_token(session.pop(_BROWSER_TOKEN, None))


# -- the browser token: the Simple API in the browser -----------------------------------------
_BROWSER_TOKEN = "browser_token"  # (owner, token id) of the session's browser token


def _end_browser_token(held) -> None:
    if not held:
        return
    owner, token_id = held
    try:
        services().tokens.revoke_personal(owner, token_id, audit=False)
    except BaleError:
        pass  # gone already


def _with_browser_token(resp, email: str, session_ends: dt.datetime | None = None):
    """Mint the session's browser token (revoking the one it replaces) and set its cookie.

    It never outlives the session: one minted for a session already under way (``/signin``
    while signed in) ends when that session does, not a whole lifetime later."""
    _end_browser_token(session.pop(_BROWSER_TOKEN, None))
    lifetime = SESSION_LIFETIME
    if session_ends is not None:
        # A second early: the token's own clock reading comes a moment after this one.
        lifetime = min(lifetime, max(session_ends - now() - dt.timedelta(seconds=1), dt.timedelta(seconds=1)))
    secret, token = services().tokens.create_personal(
        email,
        TokenKind.BROWSER,
        Permission.READ,
        expires_in=lifetime,
        description="dashboard sign-in",
    )
    session[_BROWSER_TOKEN] = [email, token.id]
    resp.set_cookie(
        BROWSER_COOKIE,
        secret,
        max_age=int(lifetime.total_seconds()),
        path="/",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return resp


@bp.app_context_processor
def template_globals():
    return {"user": current_user(), "role": g.get("role"), "team": g.get("team")}


def _signin_page(error: str | None = None, status: int = 200, next: str | None = None):
    cfg = current_app.config
    settings = services().settings
    return (
        render_template(
            "auth/signin.html",
            next=safe_next(next or request.values.get("next")),
            api_key=cfg["FIREBASE_API_KEY"],
            toolkit=cfg["IDENTITY_TOOLKIT"],
            emulator=bool(settings.auth_emulator_host),
            require_verified=current_app.config["REQUIRE_VERIFIED_EMAIL"],
            google=google_oauth.enabled(settings) and bool(cfg["FIREBASE_API_KEY"]),
            error=error,
        ),
        status,
    )


@bp.get("/signin")
def signin():
    """The sign-in page; signed in, a page whose form (CSRF-protected, submitted by
    ``continue.js`` at once) asks ``POST /signin`` for a fresh browser token. A GET changes
    nothing: an image, a prefetch or a link checker fetching this URL mints no token."""
    user = current_user()
    if user is not None:
        return render_template("auth/continue.html", next=safe_next(request.args.get("next")))
    return _signin_page()


@bp.post("/signin")
def renew_browser_token():
    """Signed in: a fresh browser token, and back to ``next`` (no loop). The Simple API sends a
    browser to ``/signin`` when its cookie is missing, expired or revoked while the session lives."""
    user = current_user()
    target = safe_next(request.form.get("next"))
    if user is None:
        return redirect(url_for("auth.signin", next=target), code=303)
    return _with_browser_token(redirect(target, code=303), user.email, user.session_ends)


def _start_session(cookie: str, email: str, next: str | None):
    # A new session, so nothing set before sign-in (a planted CSRF secret) survives it.
    _end_browser_token(session.get(_BROWSER_TOKEN))
    session.clear()
    session.permanent = True
    session["firebase"] = cookie
    return _with_browser_token(redirect(safe_next(next), code=303), email)


@bp.post("/session")
def create_session():
    """Exchange a fresh Firebase ID token for a dashboard session."""
    try:
        cookie, user = services().identity.session_from_id_token(request.form.get("id_token", ""))
    except Unauthorized as exc:
        return _signin_page(exc.message, 401)
    return _start_session(cookie, user.email, request.form.get("next"))


_GOOGLE_FLOW = "google_oauth"


def _google_redirect_uri() -> str:
    """The callback URL registered with the OAuth client; exactly the same in both legs."""
    base = services().settings.base_url
    if base:  # behind the load balancer the request's own scheme and host may not be the public ones
        return base + url_for("auth.google_callback")
    return url_for("auth.google_callback", _external=True)


def _google_settings():
    settings = services().settings
    if not google_oauth.enabled(settings) or not current_app.config["FIREBASE_API_KEY"]:
        raise NotFound("Google sign-in is not configured here.")
    return settings


@bp.get("/auth/google")
def google_start():
    """Leave for Google's sign-in page; a plain link, so it works without JavaScript."""
    settings = _google_settings()
    flow = google_oauth.Flow.new(safe_next(request.args.get("next")))
    # Kept in the signed session cookie (SameSite=Lax still sends it on Google's redirect back).
    session[_GOOGLE_FLOW] = flow.to_session()
    return redirect(google_oauth.authorization_url(settings, flow, _google_redirect_uri()))


@bp.get("/auth/google/callback")
def google_callback():
    """Back from Google: check state, redeem the code, sign in to Firebase, start a session."""
    settings = _google_settings()
    flow = google_oauth.Flow.from_session(session.pop(_GOOGLE_FLOW, None) or {})  # one use only
    args = request.args
    try:
        if flow is None:
            raise BadRequest(
                "Google sign-in failed: no sign-in was started in this browser (or it was used already)."
            )
        flow.check_state(args.get("state"))
        if args.get("error"):
            reason = args.get("error_description") or args["error"]
            if args["error"] == "access_denied":
                reason = "you cancelled it"
            raise BadRequest(f"Google sign-in did not complete: {reason}.")
        code = args.get("code")
        if not code:
            raise BadRequest("Google sign-in failed: Google sent no authorization code.")
        redirect_uri = _google_redirect_uri()
        google_token = google_oauth.exchange_code(settings, flow, code, redirect_uri)
        google_oauth.check_google_id_token(settings, flow, google_token)
        cfg = current_app.config
        firebase_token = google_oauth.firebase_sign_in(
            cfg["IDENTITY_TOOLKIT"], cfg["FIREBASE_API_KEY"], google_token, redirect_uri
        )
        cookie, user = services().identity.session_from_id_token(firebase_token, require_verified=True)
    except BaleError as exc:
        return _signin_page(exc.message, exc.status, next=flow.next if flow else None)
    return _start_session(cookie, user.email, flow.next)


@bp.post("/signout")
def signout():
    cookie = session.get("firebase")
    browser_token = session.get(_BROWSER_TOKEN)
    user = current_user()
    # This browser is signed out whatever happens next: the person asked to leave it.
    session.clear()
    _end_browser_token(browser_token)
    if user is not None:
        # Firebase ends every session of the person (end_session), so every browser's token
        # ends too, not only when that browser next loads a dashboard page.
        for held in services().tokens.personal(user.email, kinds=frozenset({TokenKind.BROWSER})):
            if held.revoked_at is None:
                _end_browser_token([user.email, held.id])
    try:
        services().identity.end_session(cookie)
    except Unavailable as exc:
        message = (
            "You are signed out of this browser, but Bale could not end your session on the "
            f"server ({exc.message}). Sign in and sign out again once it is back."
        )
        return render_template("errors/error.html", status=503, message=message), 503
    resp = redirect(url_for("auth.signin"), code=303)
    resp.delete_cookie(BROWSER_COOKIE, path="/")
    return resp
