"""Who is signed in: Firebase Auth ID tokens in, Firebase session cookies out.

The browser signs in with Firebase Auth (the Identity Toolkit REST API, see
``static/signin.js``) and posts the ID token it got to ``/session``. The server
verifies it with ``firebase-admin`` and exchanges it for a Firebase *session
cookie* (up to two weeks, revocable), which it keeps inside the Flask session.
Every request verifies that cookie again, with a revocation check, so a user
disabled or signed out everywhere in Firebase loses access at once. Signing out
revokes the person's sessions on the server (:meth:`Identity.end_session`), so a
copy of the cookie taken before sign-out is refused afterwards.

With the Auth emulator (``settings.auth_emulator_host``) firebase-admin accepts
the emulator's unsigned tokens and needs no credentials; in production it uses
the service's default credentials and Google's public keys.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import threading
import time

from bale.errors import Unauthorized, Unavailable
from bale.settings import Settings

#: How long a dashboard sign-in lasts (Firebase allows 5 minutes to 2 weeks).
SESSION_LIFETIME = dt.timedelta(days=5)
#: An ID token older than this is not exchanged for a session cookie: a stolen, long-lived
#: token cannot be turned into a two-week session (Firebase's recommendation).
MAX_ID_TOKEN_AGE = 5 * 60

# firebase-admin reads the emulator address from this variable only (it has no option).
_EMULATOR_ENV = "FIREBASE_AUTH_EMULATOR_HOST"
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class User:
    """A signed-in person."""

    uid: str
    email: str
    email_verified: bool
    #: When the session this user came from ends (a session cookie's ``exp``), if known.
    session_ends: dt.datetime | None = None


class Identity:
    """Firebase Auth for one Settings; the firebase_admin app is made on first use."""

    def __init__(self, settings: Settings, *, require_verified_email: bool):
        self.settings = settings
        self.require_verified_email = require_verified_email
        self._app = None

    @property
    def app(self):
        if self._app is None:
            import firebase_admin

            s = self.settings
            # One firebase_admin app per project and backend, so two dashboards in one
            # process (tests) never share a client pointed at the wrong place.
            name = f"bale-dashboard:{s.project}:{s.auth_emulator_host or 'google'}"
            with _lock:
                if s.auth_emulator_host:
                    os.environ[_EMULATOR_ENV] = s.auth_emulator_host
                try:
                    self._app = firebase_admin.get_app(name)
                except ValueError:
                    # No credentials argument: Application Default Credentials in production
                    # (the service account of the Cloud Run service); none needed on the emulator.
                    self._app = firebase_admin.initialize_app(options={"projectId": s.project}, name=name)
        return self._app

    def _user(self, claims: dict, *, require_verified: bool = False) -> User:
        email = (claims.get("email") or "").strip().lower()
        if not email:
            raise Unauthorized("This account has no email address; Bale grants access by email.")
        verified = bool(claims.get("email_verified"))
        if (self.require_verified_email or require_verified) and not verified:
            raise Unauthorized(f"Verify {email} first: Bale only trusts verified email addresses.")
        exp = claims.get("exp")
        ends = dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int | float) else None
        return User(uid=claims["uid"], email=email, email_verified=verified, session_ends=ends)

    def session_from_id_token(self, id_token: str, *, require_verified: bool = False) -> tuple[str, User]:
        """Check a fresh ID token and return (session cookie, user).

        ``require_verified`` insists on a verified address even where the deployment does not
        (the Auth emulator): Google sign-in only ever accepts verified addresses.
        """
        from firebase_admin import auth

        if not id_token:
            raise Unauthorized("No ID token.")
        from firebase_admin import exceptions

        try:
            claims = auth.verify_id_token(id_token, app=self.app, check_revoked=True)
            if time.time() - claims.get("auth_time", 0) > MAX_ID_TOKEN_AGE:
                raise Unauthorized("Sign-in is too old; please sign in again.")
            user = self._user(claims, require_verified=require_verified)
            cookie = auth.create_session_cookie(id_token, expires_in=SESSION_LIFETIME, app=self.app)
        except (exceptions.InvalidArgumentError, exceptions.NotFoundError, ValueError) as exc:
            # Bad, expired, revoked or disabled: the user's fault, say why.
            raise Unauthorized(f"Sign-in failed: {exc}") from None
        except exceptions.FirebaseError as exc:
            raise Unavailable(f"Firebase Auth is unavailable: {exc}") from exc
        return cookie, user

    def end_session(self, cookie: str | None) -> None:
        """Revoke the sessions of the person a session cookie belongs to, on the server.

        Clearing the browser's cookie is not enough: a copy of it (malware, a shared
        machine, a proxy log) would stay valid for the rest of its five days. Firebase
        revokes per account, not per cookie, so this signs the person out of every
        browser. A cookie that is already invalid has nothing left to revoke.
        """
        from firebase_admin import auth, exceptions

        if not cookie:
            return
        try:
            claims = auth.verify_session_cookie(cookie, app=self.app, check_revoked=False)
        except (exceptions.InvalidArgumentError, ValueError):
            return  # expired or not ours: no session to end
        # The revocation check refuses a cookie only if it was issued (iat, whole seconds)
        # *before* tokensValidAfterTime, which revoke_refresh_tokens sets to the current
        # whole second. A cookie issued in the same second as the revocation would
        # survive it, so wait for the next second first (only ever after a sign-in less
        # than a second old; our clock and Google's are both NTP-synchronised).
        wait = claims.get("iat", 0) + 1 - time.time()
        if wait > 0:
            time.sleep(wait)
        try:
            auth.revoke_refresh_tokens(claims["uid"], app=self.app)
        except exceptions.NotFoundError:
            return  # the account is gone, and its sessions with it
        except exceptions.FirebaseError as exc:
            raise Unavailable(f"Firebase Auth is unavailable: {exc}") from exc

    def user_from_session(self, cookie: str | None) -> User | None:
        """The user a session cookie belongs to, or None if it is missing, expired or revoked."""
        from firebase_admin import auth

        if not cookie:
            return None
        from firebase_admin import exceptions

        try:
            claims = auth.verify_session_cookie(cookie, app=self.app, check_revoked=True)
        except (exceptions.InvalidArgumentError, exceptions.NotFoundError, ValueError):
            return None  # expired, revoked, disabled or deleted: signed out
        except exceptions.FirebaseError as exc:
            # Not the user's fault: keep their session and say so, rather than sign them out.
            raise Unavailable(f"Firebase Auth is unavailable: {exc}") from exc
        try:
            return self._user(claims)
        except Unauthorized:
            return None
