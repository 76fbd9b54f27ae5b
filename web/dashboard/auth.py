"""Sign-in and sign-out.

The browser signs in with Firebase Auth itself (``static/signin.js`` calls the
Identity Toolkit REST API, so passwords never reach this server) and submits
the ID token to ``POST /session`` in a CSRF-protected form. The server checks it
and keeps a Firebase session cookie in the Flask session; ``load_user`` checks
that cookie on every request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, g, redirect, render_template, request, session, url_for

from bale.errors import Unauthorized

from .services import current_user, services

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in; anything else goes home (no open redirect)."""
    if not target:
        return url_for("teams.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
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


@bp.app_context_processor
def template_globals():
    return {"user": current_user(), "role": g.get("role"), "team": g.get("team")}


def _signin_page(error: str | None = None, status: int = 200):
    cfg = current_app.config
    settings = services().settings
    return (
        render_template(
            "auth/signin.html",
            next=safe_next(request.values.get("next")),
            api_key=cfg["FIREBASE_API_KEY"],
            toolkit=cfg["IDENTITY_TOOLKIT"],
            emulator=bool(settings.auth_emulator_host),
            require_verified=current_app.config["REQUIRE_VERIFIED_EMAIL"],
            error=error,
        ),
        status,
    )


@bp.get("/signin")
def signin():
    if current_user() is not None:
        return redirect(safe_next(request.args.get("next")))
    return _signin_page()


@bp.post("/session")
def create_session():
    """Exchange a fresh Firebase ID token for a dashboard session."""
    try:
        cookie, user = services().identity.session_from_id_token(request.form.get("id_token", ""))
    except Unauthorized as exc:
        return _signin_page(exc.message, 401)
    # A new session, so nothing set before sign-in (a planted CSRF secret) survives it.
    session.clear()
    session.permanent = True
    session["firebase"] = cookie
    return redirect(safe_next(request.form.get("next")), code=303)


@bp.post("/signout")
def signout():
    session.clear()
    return redirect(url_for("auth.signin"), code=303)
