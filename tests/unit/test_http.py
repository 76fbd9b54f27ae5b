"""bale.api.http: the status line clients print, the one error mapping (paths: test_routes.py)."""

from __future__ import annotations

from flask import Request
from werkzeug.test import EnvironBuilder

from bale.api.http import SECURITY_HEADERS, plain_errors, status_line, text_error
from bale.errors import BadRequest, BaleError, Unauthorized


def test_status_line_carries_the_message():
    assert status_line(400, "Invalid filename 'x'.") == "400 Invalid filename 'x'."


def test_status_line_cannot_be_split_or_smuggle_bytes():
    # A reason phrase with CR/LF would end the status line and inject headers.
    line = status_line(400, "bad\r\nSet-Cookie: x=1")
    assert "\r" not in line and "\n" not in line
    assert line == "400 bad  Set-Cookie: x=1"
    assert status_line(400, "café ☕ ok") == "400 caf    ok"
    assert status_line(403, "tab\there") == "403 tab here"


def test_status_line_is_bounded_and_never_empty():
    line = status_line(400, "x" * 1000)
    assert line == "400 " + "x" * 400
    assert status_line(500, "") == "500 Error"
    assert status_line(500, "\n\n") == "500 Error"


def test_text_error_is_plain_text_with_the_message_and_headers():
    resp = text_error(
        Unauthorized("Authentication required.", headers={"WWW-Authenticate": 'Basic realm="bale"'})
    )
    assert resp.status == "401 Authentication required."
    assert resp.mimetype == "text/plain"
    assert resp.get_data(as_text=True) == "Authentication required.\n"
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="bale"'


def _request(method="GET", path="/x"):
    return Request(EnvironBuilder(method=method, path=path).get_environ())


def test_plain_errors_maps_our_errors_and_hides_the_others():
    @plain_errors
    def refuses(request):
        raise BadRequest("No such thing.")

    @plain_errors
    def crashes(request):
        raise RuntimeError("secret internals")

    @plain_errors
    def custom(request):
        raise BaleError("Slow down.", status=429, headers={"Retry-After": "3"})

    r = refuses(_request())
    assert (r.status_code, r.get_data(as_text=True)) == (400, "No such thing.\n")
    r = crashes(_request())
    assert r.status_code == 500
    assert "secret internals" not in r.get_data(as_text=True) and "secret" not in r.status
    assert "nothing was stored" in r.get_data(as_text=True)
    r = custom(_request())
    assert (r.status_code, r.headers["Retry-After"]) == (429, "3")
    for resp in (refuses(_request()), crashes(_request()), custom(_request())):
        for k, v in SECURITY_HEADERS.items():
            assert resp.headers[k] == v


def test_plain_errors_hardens_successes_without_overriding_what_a_handler_set():
    from flask import Response

    @plain_errors
    def ok(request):
        return Response("hi", headers={"Referrer-Policy": "same-origin"})

    r = ok(_request())
    assert r.status_code == 200
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
