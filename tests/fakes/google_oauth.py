"""A stand-in for Google's OAuth 2.0 endpoints, for the dashboard's Google sign-in tests.

It sends the browser back with a code at once and redeems the code, checking the client
secret, the redirect URI and the PKCE verifier, for an unsigned Google ID token, which the
Firebase Auth emulator accepts in ``accounts:signInWithIdp``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from urllib.parse import urlencode

import jwt
from werkzeug.wrappers import Request, Response

CLIENT_ID = "bale-test.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-test-secret"


class FakeGoogle:
    """Google's authorization and token endpoints, as far as the dashboard uses them."""

    def __init__(self):
        self.url = ""
        self.lock = threading.Lock()
        self.codes: dict[str, dict] = {}
        self.reset()

    def reset(self):
        #: Who "signs in" at the authorization endpoint next.
        self.person = {"sub": "1001", "email": "gina@example.com", "email_verified": True, "name": "Gina"}
        #: Claims to change in the next ID token (a test sets them).
        self.overrides: dict = {}
        #: (status, body) the token endpoint answers with instead of a token.
        self.token_error: tuple[int, dict] | None = None
        self.token_requests: list[dict] = []
        with self.lock:
            self.codes.clear()

    def wsgi(self, environ, start_response):
        request = Request(environ)
        if request.path == "/authorize":
            resp = self.authorize(request)
        elif request.path == "/token" and request.method == "POST":
            resp = self.token(request)
        else:
            resp = Response("not found", status=404)
        return resp(environ, start_response)

    def authorize(self, request):
        q = request.args
        assert q["client_id"] == CLIENT_ID, q
        assert q["response_type"] == "code", q
        assert set(q["scope"].split()) == {"openid", "email", "profile"}, q
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43, q
        assert q.get("state") and q.get("nonce"), q
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {
                "redirect_uri": q["redirect_uri"],
                "challenge": q["code_challenge"],
                "nonce": q["nonce"],
                "person": dict(self.person),
            }
        # Google would show its account chooser here; the person "chooses" at once.
        back = q["redirect_uri"] + "?" + urlencode({"state": q["state"], "code": code, "scope": q["scope"]})
        return Response(status=302, headers={"Location": back})

    def token(self, request):
        form = request.form.to_dict()
        self.token_requests.append(form)
        if self.token_error:
            status, body = self.token_error
            return Response(_json(body), status=status, content_type="application/json")
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        ok = (
            grant is not None
            and form.get("grant_type") == "authorization_code"
            and form.get("client_id") == CLIENT_ID
            and form.get("client_secret") == CLIENT_SECRET
            and form.get("redirect_uri") == grant["redirect_uri"]
            and challenge == grant["challenge"]
        )
        if not ok:
            body = {"error": "invalid_grant", "error_description": "Bad Request"}
            return Response(_json(body), status=400, content_type="application/json")
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "azp": CLIENT_ID,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "nonce": grant["nonce"],
            **grant["person"],
            **self.overrides,
        }
        # Unsigned, like the fake ID tokens the Firebase Auth emulator accepts.
        id_token = jwt.encode(claims, key="", algorithm="none")
        body = {"access_token": "ya29.fake", "expires_in": 3599, "token_type": "Bearer", "id_token": id_token}
        return Response(_json(body), content_type="application/json")


def _json(body) -> str:
    return json.dumps(body)
