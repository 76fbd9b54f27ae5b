"""The Bale dashboard: a Flask app factory with one blueprint per feature.

* ``auth``: sign-in with Firebase Auth (email and password, or Google through a server-side
  OAuth flow), sign-out (``auth.py``, ``identity.py``, ``google_oauth.py``).
* ``teams``: my teams, a team's indexes, members and audit log (``teams.py``).
* ``projects``: an index's projects, a project's versions and files (``projects.py``).
* ``device``: ``bale login``'s device codes and their approval page (``device.py``).
* ``admin``: team admins only: members, write access, tokens, trusted publishers,
  yanking, new indexes (``admin.py``).

Every form carries a CSRF token (flask-wtf's CSRFProtect checks every POST), pages
load no third-party assets (a strict Content-Security-Policy says so), and the only
JavaScript is ``static/*.js``, written by hand.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from bale.api.http import harden, text_error
from bale.errors import BaleError
from bale.routes import SIMPLE, UPLOAD
from bale.settings import Settings, get_settings

from .identity import SESSION_LIFETIME, Identity
from .services import Services

csrf = CSRFProtect()

#: Where the browser calls the Identity Toolkit REST API (production).
IDENTITY_TOOLKIT = "https://identitytoolkit.googleapis.com"


def identity_toolkit_base(settings: Settings) -> str:
    """Base URL of the Identity Toolkit API the browser signs in with."""
    if settings.auth_emulator_host:
        # The emulator serves the same API under its own host and a path prefix.
        return f"http://{settings.auth_emulator_host}/identitytoolkit.googleapis.com"
    return IDENTITY_TOOLKIT


def create_app(settings: Settings | None = None, *, config: Mapping[str, Any] | None = None) -> Flask:
    """Build the dashboard for ``settings`` (default: from the environment).

    ``config`` overrides Flask settings, e.g. ``FIREBASE_API_KEY`` (the Firebase
    project's public Web API key, needed in production; by default
    ``settings.firebase_api_key``) or ``REQUIRE_VERIFIED_EMAIL``.
    """
    settings = settings or get_settings()
    _refuse_insecure_defaults(settings)
    app = Flask(__name__)
    secure = settings.base_url.startswith("https://") or not settings.using_emulators
    app.config.update(
        SECRET_KEY=settings.secret_key,
        BALE_SETTINGS=settings,
        # Firebase Hosting forwards only a cookie named __session; one cookie holds the
        # CSRF secret and the Firebase session cookie, signed by Flask.
        SESSION_COOKIE_NAME="__session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # CSRF tokens live as long as the session that holds their secret.
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=secure,
        MAX_CONTENT_LENGTH=256 * 1024,
        # The Web API key is public (it identifies the Firebase project, it grants nothing);
        # the emulator accepts any value.
        FIREBASE_API_KEY=settings.firebase_api_key or ("emulator" if settings.auth_emulator_host else ""),
        IDENTITY_TOOLKIT=identity_toolkit_base(settings),
        # Access is granted by email address, so an address must be proven before it counts.
        # The emulator sends no mail: there, an unverified address is accepted.
        REQUIRE_VERIFIED_EMAIL=not settings.auth_emulator_host,
    )
    if config:
        app.config.update(config)

    csrf.init_app(app)
    app.extensions["bale"] = Services(
        settings, Identity(settings, require_verified_email=app.config["REQUIRE_VERIFIED_EMAIL"])
    )

    from . import admin, auth, device, mytokens, projects, readers, teams, views_tab

    app.register_blueprint(auth.bp)
    app.register_blueprint(teams.bp)
    app.register_blueprint(projects.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(readers.bp)
    app.register_blueprint(views_tab.bp)
    app.register_blueprint(mytokens.bp)
    app.register_blueprint(device.bp)
    # bale login's JSON endpoints carry no session (the CLI has no cookie to forge a request
    # with); the approval itself is a CSRF-protected form.
    for view in (device.code, device.token, device.revoke):
        csrf.exempt(view)

    @app.get("/favicon.ico")
    def favicon():
        # Browsers ask for /favicon.ico whatever a page links; one small SVG serves both.
        resp = app.send_static_file("favicon.svg")
        resp.headers["Cache-Control"] = "public, max-age=86400"
        return resp

    _register_errors(app)
    _register_headers(app)
    _register_filters(app)
    return app


class InsecureConfiguration(RuntimeError):
    """The dashboard was asked to start in production with a development default."""


def _refuse_insecure_defaults(settings: Settings) -> None:
    # The session cookie is signed with the secret key; anyone who knows it (the default
    # is in this repository) can forge a session. Only the local stack may use it.
    if settings.using_emulators:
        return
    if not settings.secret_key or settings.secret_key == Settings.secret_key:
        raise InsecureConfiguration(
            "BALE_SECRET_KEY is not set: the dashboard refuses to start outside the emulators "
            "with the development secret key, which would let anyone forge a session cookie. "
            "Set BALE_SECRET_KEY to a long random value (Terraform keeps one in Secret Manager "
            "as bale-session-secret), or set FIRESTORE_EMULATOR_HOST for local development."
        )


def _register_errors(app: Flask) -> None:
    @app.errorhandler(BaleError)
    def bale_error(exc: BaleError):
        page = render_template("errors/error.html", status=exc.status, message=exc.message)
        return page, exc.status, exc.headers

    @app.errorhandler(Exception)
    def outage(exc: Exception):
        # A Firestore or Cloud Storage outage is a 503 with Retry-After here too, never a 500.
        from werkzeug.exceptions import HTTPException

        from bale.store.guard import is_outage, outage_error

        if isinstance(exc, HTTPException):
            return exc
        if not is_outage(exc):
            raise exc
        return bale_error(outage_error(exc))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        message = (
            f"The form expired or was not sent by this site ({exc.description}). Go back, reload and retry."
        )
        return render_template("errors/error.html", status=400, message=message), 400

    @app.errorhandler(403)
    def forbidden(exc):
        return render_template("errors/error.html", status=403, message="You may not do that."), 403

    @app.errorhandler(404)
    def not_found(exc):
        if not wants_a_page():
            return _plain_line(404, f"Not found: {request.path} is not a Bale URL. {WHERE}")
        return render_template("errors/error.html", status=404, message="There is nothing here."), 404

    @app.errorhandler(405)
    def not_allowed(exc):
        if not wants_a_page():
            line = _plain_line(405, f"Method {request.method} is not allowed on {request.path}. {WHERE}")
            line.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or ())
            return line
        return render_template("errors/error.html", status=405, message="Method not allowed."), 405


#: What a client that lost its way is told (one line: uv and twine print it whole).
WHERE = f"Uploads go to {UPLOAD}/TEAM/INDEX/, installs read {SIMPLE}/TEAM/INDEX/."


def wants_a_page() -> bool:
    """Whether the request is a person's browser, which gets the dashboard's HTML error page.
    Browsers send ``Sec-Fetch-Mode: navigate`` when they open a page, and put text/html
    first in Accept; uv, pip, twine and curl do neither, and get one plain line."""
    if request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate":
        return True
    return request.accept_mimetypes.best in ("text/html", "application/xhtml+xml")


def _plain_line(status: int, line: str) -> Response:
    """The error as the API functions answer theirs: one line, also in the status line, which
    is all twine shows. The path comes from the request: control characters are dropped."""
    return harden(text_error(BaleError("".join(c if c.isprintable() else "?" for c in line), status=status)))


def _register_headers(app: Flask) -> None:
    toolkit = app.config["IDENTITY_TOOLKIT"]
    parts = urlsplit(toolkit)
    connect = f"{parts.scheme}://{parts.netloc}"
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            # READMEs may show badges and pictures from anywhere, as on PyPI.
            "img-src 'self' data: https:",
            f"connect-src 'self' {connect}",
            "form-action 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        if request.endpoint != "static":
            # Pages show private data (and once, a token secret): never cache them.
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def _register_filters(app: Flask) -> None:
    @app.template_filter("filesize")
    def filesize(n: int | None) -> str:
        if n is None:
            return ""
        size = float(n)
        for unit in ("bytes", "KB", "MB", "GB"):
            if size < 1024 or unit == "GB":
                return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
            size /= 1024
        return f"{n} bytes"  # pragma: no cover

    @app.template_filter("when")
    def when(value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")

    @app.template_filter("iso")
    def iso(value: dt.datetime | None) -> str:
        return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value else ""
