"""``bale login``: the dashboard side of the browser-approved device login (RFC 8628's shape).

JSON endpoints for the CLI (no session, no cookies, so exempt from CSRF; see ``create_app``):

* ``POST /device/code`` -> ``{device_code, user_code, verification_uri,
  verification_uri_complete, expires_in, interval}``;
* ``POST /device/token`` with ``device_code`` -> 400 ``{"error": "authorization_pending" |
  "slow_down" | "expired_token" | "access_denied" | "invalid_grant"}``, or once approved, 200
  ``{"access_token", "token_type": "bearer", "expires_in", "token_id"}``;
* ``POST /device/revoke`` with the login token as Bearer (or Basic ``__token__``): revokes it
  (``bale logout``).

And for the person: ``GET /device[?code=…]`` (signed in) shows the code, the host, when and
from which address the code was started (and whether that is the approver's own), the machine
name the requester claimed, and their rights team by team; the approver picks the token's
lifetime and whether it may upload. Approving or denying is a CSRF-protected ``POST /device``.
Nothing the CLI sent decides what the token may do or how long it lives. The codes and their
rules live in :mod:`bale.tokens.device`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request

from bale import access
from bale.clock import now
from bale.errors import BaleError, Unauthorized
from bale.forwarded import client_address
from bale.tokens.device import (
    CODE_TTL,
    DEFAULT_TOKEN_TTL,
    LOGIN_LABELS,
    LOGIN_PERMISSIONS,
    MAX_TOKEN_TTL,
    TTL_CHOICES,
    DeviceError,
    Devices,
    display_user_code,
    login_permission,
    normalize_user_code,
    token_ttl,
)

from .services import current_user, services, signed_in

bp = Blueprint("device", __name__, url_prefix="/device")


def _devices() -> Devices:
    return Devices(services().stores)


def _base_url() -> str:
    return services().settings.base_url or request.host_url.rstrip("/")


def requester_address() -> str:
    """This request's client address, as the trusted proxies appended it (never the left-most,
    client-written entries of X-Forwarded-For)."""
    return client_address(
        request.remote_addr,
        request.headers.getlist("X-Forwarded-For"),
        services().settings.forwarded_hops,
    )


def _params() -> dict[str, Any]:
    """The CLI's parameters, as a form (RFC 8628) or JSON."""
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:
            # silent= covers what the decoder calls invalid, not nesting deeper than Python's
            # stack: such a body is as unreadable, not a server error.
            body = None
        return body if isinstance(body, dict) else {}
    return request.form.to_dict()


def _json_error(code: str, description: str, status: int = 400):
    return jsonify({"error": code, "error_description": description}), status


@bp.post("/code")
def code():
    """Start a login: a device code for the CLI, a user code for the person.

    Only the machine's name is read from the request, and shown as the requester's claim; an
    ``expires_in`` or a permission sent by older CLIs is ignored (the approver picks both)."""
    params = _params()
    try:
        device_code, user_code, _record = _devices().start(
            client_name=str(params.get("client_name") or ""), requested_from=requester_address()
        )
    except BaleError as exc:
        if exc.status == 429:
            resp = jsonify({"error": "slow_down", "error_description": exc.message})
            resp.status_code = 429
            resp.headers.update(exc.headers)
            return resp
        if exc.status >= 500:
            raise
        return _json_error("invalid_request", exc.message)
    shown = display_user_code(user_code)
    verify = f"{_base_url()}/device"
    return jsonify(
        {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": verify,
            "verification_uri_complete": f"{verify}?code={shown}",
            "expires_in": int(CODE_TTL.total_seconds()),
            "interval": 5,
            # For the CLI to say so: the approver, not this request, decides both.
            "token_chosen_by": "approver",
        }
    )


@bp.post("/token")
def token():
    """The CLI's poll: RFC 8628 errors until approved, then the token, once."""
    try:
        secret, tok = _devices().poll(str(_params().get("device_code") or ""))
    except DeviceError as exc:
        return _json_error(exc.code, exc.message)
    except Exception as exc:
        # Racing polls of one code contend on its transaction: the loser retries its poll
        # (RFC 8628's slow_down) instead of seeing a server error; the winner gets the token.
        from google.api_core import exceptions as gexc

        if not isinstance(exc, (gexc.Aborted, gexc.Conflict, ValueError)):
            raise
        return _json_error("slow_down", "Another poll of this code is under way; poll again later.")
    expires_in = int((tok.expires_at - now()).total_seconds()) if tok.expires_at else None
    return jsonify(
        {
            "access_token": secret,
            "token_type": "bearer",
            "expires_in": expires_in,
            "token_id": tok.id,
            "permission": tok.permission.value,
        }
    )


@bp.post("/revoke")
def revoke():
    """``bale logout``: the login token revokes itself (it is its own credential)."""
    tokens = services().tokens
    try:
        tok = access.authenticate(services().stores, request.headers.get("Authorization")).token
    except Unauthorized as exc:
        return _json_error("invalid_token", exc.message, 401)
    why = access.logout_refusal(tok)
    if why:
        return _json_error("unsupported_token_type", why)
    assert tok.owner  # a login token always has one (logout_refusal says so)
    tokens.revoke_personal(tok.owner, tok.id)
    return jsonify({"revoked": tok.id})


def _rights(email: str) -> list[dict[str, Any]]:
    """What a login token of ``email`` may do, team by team (their rights today)."""
    return access.rights_of(services().stores, email)


def _page(
    user_code: str | None = None,
    *,
    status: int = 200,
    error: str | None = None,
    done: str | None = None,
    chosen: dict[str, str] | None = None,
):
    user = current_user()
    assert user is not None
    record = None
    if user_code and error is None and done is None:
        try:
            record = _devices().find(user_code, who=user.email)
            user_code = display_user_code(normalize_user_code(user_code))
        except BaleError as exc:
            if exc.status >= 500:
                raise
            error, status = exc.message, exc.status
    return (
        render_template(
            "device/approve.html",
            code=user_code or "",
            record=record,
            host=_base_url(),
            rights=_rights(user.email) if record else [],
            error=error,
            done=done,
            here=requester_address(),
            ttl_choices=TTL_CHOICES,
            default_days=DEFAULT_TOKEN_TTL.days,
            max_days=MAX_TOKEN_TTL.days,
            permissions=[p.value for p in LOGIN_PERMISSIONS],
            chosen=chosen or {},
        ),
        status,
    )


@bp.get("")
@signed_in
def approve_page():
    return _page(request.args.get("code"))


@bp.post("")
@signed_in
def decide():
    user = current_user()
    assert user is not None
    form = request.form
    user_code = form.get("code", "")
    approve = form.get("decision") == "approve"
    chosen = {"days": form.get("days", ""), "permission": form.get("permission", "")}
    try:
        ttl, permission = token_ttl(chosen["days"]), login_permission(chosen["permission"])
        _devices().decide(user_code, user.email, approve=approve, ttl=ttl, permission=permission)
    except BaleError as exc:
        if exc.status >= 500:
            raise
        return _page(user_code, status=exc.status, error=exc.message, chosen=chosen)
    if approve:
        what = LOGIN_LABELS[permission]
        return _page(
            user_code,
            done=f"Approved ({what}, {ttl.days} days): return to your terminal; bale login has its token.",
        )
    return _page(user_code, done="Denied: no token was made.")
