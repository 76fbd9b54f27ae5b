"""Sign in with Google: a server-side OAuth 2.0 authorization-code flow feeding Firebase Auth.

No JavaScript and nothing loaded from Google's sites: ``GET /auth/google`` sends the browser
to Google's authorization endpoint, Google sends it back to ``/auth/google/callback`` with a
code, and the server

1. checks the ``state`` it put in the visitor's (signed) session cookie, so a callback the
   visitor did not start is refused (login CSRF);
2. redeems the code at Google's token endpoint with the client secret and the PKCE
   ``code_verifier`` (a code intercepted on the way back is useless without it);
3. checks the Google ID token it got back: issuer, audience (our client ID), expiry, the
   ``nonce`` from step 1 and ``email_verified``. The token comes straight from Google over
   TLS, authenticated with our client secret, so its signature need not be checked here
   (OpenID Connect Core 3.1.3.7); Firebase checks it again in the next step anyway;
4. hands it to Firebase Auth (Identity Toolkit ``accounts:signInWithIdp``), which finds or
   creates the Firebase account and returns a Firebase ID token. From there on it is the
   same path as email sign-in: ``Identity.session_from_id_token``.

The Auth emulator accepts unsigned ("fake") Google ID tokens in step 4, which is how the
tests run the whole flow against a local stand-in for Google's two endpoints.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request

import jwt

from bale.errors import BadRequest, Unauthorized, Unavailable
from bale.settings import Settings

#: Issuers Google's ID tokens carry (both spellings are in use).
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
SCOPE = "openid email profile"
#: How long a visitor may take at Google between leaving and coming back.
MAX_FLOW_AGE = 10 * 60
#: Clock skew tolerated on the Google ID token's expiry.
LEEWAY = 60
HTTP_TIMEOUT = 15

#: Identity Toolkit errors, in words a person can act on.
FIREBASE_MESSAGES = {
    "OPERATION_NOT_ALLOWED": "Google sign-in is not enabled in this project's Firebase Auth.",
    "INVALID_IDP_RESPONSE": "Firebase Auth did not accept Google's answer.",
    "USER_DISABLED": "This account is disabled.",
    "FEDERATED_USER_ID_ALREADY_LINKED": "This Google account is linked to another account already.",
    "EMAIL_EXISTS": "An account with this email exists already: sign in with its password.",
    "ADMIN_ONLY_OPERATION": "Accounts are created by your administrator.",
    "API_KEY_INVALID": "Sign-in is misconfigured: Firebase does not know this Web API key.",
    "INVALID_API_KEY": "Sign-in is misconfigured: Firebase does not know this Web API key.",
}


def enabled(settings: Settings) -> bool:
    """Whether this deployment offers Google sign-in (an OAuth client is configured)."""
    return bool(settings.google_oauth_client_id and settings.google_oauth_client_secret)


@dataclasses.dataclass(frozen=True)
class Flow:
    """One sign-in attempt, kept in the visitor's session until Google sends them back."""

    state: str
    nonce: str
    verifier: str
    next: str
    started: float

    @classmethod
    def new(cls, next: str) -> Flow:
        return cls(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            # 64 characters of [A-Za-z0-9_-]: a valid PKCE verifier (RFC 7636: 43 to 128).
            verifier=secrets.token_urlsafe(48),
            next=next,
            started=time.time(),
        )

    def to_session(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_session(cls, data) -> Flow | None:
        try:
            return cls(**data)
        except TypeError:
            return None

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def check_state(self, state: str | None) -> None:
        if not state or not hmac.compare_digest(state.encode(), self.state.encode()):
            raise BadRequest("Google sign-in failed: this answer does not belong to a sign-in started here.")
        if time.time() - self.started > MAX_FLOW_AGE:
            raise BadRequest("Google sign-in took too long; please try again.")


def authorization_url(settings: Settings, flow: Flow, redirect_uri: str) -> str:
    params = {
        "client_id": settings.google_oauth_client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SCOPE,
        "state": flow.state,
        "nonce": flow.nonce,
        "code_challenge": flow.challenge,
        "code_challenge_method": "S256",
        "prompt": "select_account",
    }
    sep = "&" if "?" in settings.google_oauth_auth_url else "?"
    return settings.google_oauth_auth_url + sep + urllib.parse.urlencode(params)


def _post(url: str, data: bytes, content_type: str, what: str) -> tuple[int, dict]:
    """POST and parse a JSON answer, error statuses included; unreachable or not JSON: 503."""
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Unavailable(f"Cannot reach {what}: {getattr(exc, 'reason', exc)}. Try again.") from None
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise Unavailable(f"{what} sent an answer that is not JSON (HTTP {status}).")
    return status, parsed


def exchange_code(settings: Settings, flow: Flow, code: str, redirect_uri: str) -> str:
    """Redeem an authorization code at Google's token endpoint; returns Google's ID token."""
    form = urllib.parse.urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": settings.google_oauth_client_id,
            "client_secret": settings.google_oauth_client_secret,
            "code_verifier": flow.verifier,
        }
    ).encode()
    status, body = _post(
        settings.google_oauth_token_url, form, "application/x-www-form-urlencoded", "Google's token endpoint"
    )
    if status != 200:
        error = str(body.get("error") or f"HTTP {status}")
        detail = body.get("error_description")
        message = f"Google refused the sign-in ({error}{': ' + str(detail) if detail else ''})."
        if error == "invalid_grant":
            message += " The link may have been used already or expired; please try again."
        raise Unauthorized(message)
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise Unauthorized("Google's answer carried no ID token (was the openid scope granted?).")
    return id_token


def check_google_id_token(settings: Settings, flow: Flow, id_token: str) -> dict:
    """The claims of Google's ID token, if it is meant for us, for this sign-in, and verified."""
    try:
        # Received directly from Google's token endpoint over TLS (see the module docstring).
        claims = jwt.decode(id_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Unauthorized("Google's ID token cannot be read.") from None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthorized("Google's ID token has the wrong issuer.")
    if settings.google_oauth_client_id not in audiences:
        raise Unauthorized("Google's ID token was issued to another application.")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] + LEEWAY < time.time():
        raise Unauthorized("Google's ID token has expired; please sign in again.")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), flow.nonce.encode()):
        raise Unauthorized("Google's ID token belongs to another sign-in.")
    email = claims.get("email")
    if not email:
        raise Unauthorized("Google did not share an email address; Bale grants access by email.")
    if claims.get("email_verified") is not True:
        raise Unauthorized(f"Google has not verified {email}; Bale only trusts verified email addresses.")
    return claims


def firebase_sign_in(toolkit: str, api_key: str, google_id_token: str, request_uri: str) -> str:
    """Sign in to Firebase Auth with Google's ID token; returns a Firebase ID token."""
    url = f"{toolkit}/v1/accounts:signInWithIdp?key={urllib.parse.quote(api_key, safe='')}"
    body = json.dumps(
        {
            "postBody": urllib.parse.urlencode({"id_token": google_id_token, "providerId": "google.com"}),
            "requestUri": request_uri,
            "returnSecureToken": True,
            # Errors such as "already linked" then come back as errorMessage instead of a 400.
            "returnIdpCredential": True,
        }
    ).encode()
    status, data = _post(url, body, "application/json", "Firebase Auth")
    if status != 200:
        raw = str((data.get("error") or {}).get("message") or f"HTTP {status}")
        if status >= 500:
            raise Unavailable(f"Firebase Auth is unavailable ({raw}).")
        raise Unauthorized(_firebase_message(raw))
    if data.get("errorMessage"):
        raise Unauthorized(_firebase_message(str(data["errorMessage"])))
    if data.get("needConfirmation"):
        raise Unauthorized(
            f"An account for {data.get('email') or 'this address'} exists already with another "
            "sign-in method: use that one."
        )
    if data.get("mfaPendingCredential"):
        raise Unauthorized("This account needs a second factor, which the dashboard does not support.")
    id_token = data.get("idToken")
    if not isinstance(id_token, str) or not id_token:
        raise Unauthorized("Firebase Auth did not sign you in.")
    return id_token


def _firebase_message(raw: str) -> str:
    code = raw.split(" ")[0].split(":")[0].strip()
    return FIREBASE_MESSAGES.get(code) or f"Sign-in failed: {raw}"
