"""``bale login``: a browser-approved device login, in the shape of RFC 8628.

The CLI asks for a code pair (:meth:`Devices.start`): a long random *device code*, which only
the CLI knows and polls with, and a short *user code* the person types (or follows a link
with) on the dashboard, where, signed in, they approve it (:meth:`Devices.decide`). The next
poll (:meth:`Devices.poll`) then hands the CLI, once, a person-wide ``login`` token carrying
the approver's rights (see :meth:`bale.tokens.service.Tokens.create_personal`).

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
from bale.errors import BadRequest, BaleError, NotFound
from bale.store import paths
from bale.store.backends import Stores
from bale.store.records import from_snapshot
from bale.tokens.service import Permission, Token, TokenKind, Tokens, parse_duration

if TYPE_CHECKING:
    from google.cloud.firestore import DocumentReference, Transaction

#: How long a code pair may wait for approval and redemption (RFC 8628 ``expires_in``).
CODE_TTL: Final = dt.timedelta(minutes=10)
#: Seconds a CLI waits between polls, and what ``slow_down`` adds to it.
INTERVAL: Final = 5
SLOW_DOWN_STEP: Final = 5
#: A login token's lifetime unless the CLI asks otherwise, and the longest it may ask for.
DEFAULT_TOKEN_TTL: Final = dt.timedelta(days=90)
MAX_TOKEN_TTL: Final = dt.timedelta(days=365)
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
    token_ttl_seconds: int
    client_name: str = ""
    interval: int = INTERVAL
    last_poll_at: dt.datetime | None = None
    approved_by: str | None = None
    decided_at: dt.datetime | None = None
    token_id: str | None = None
    slow_downs: int = 0

    @property
    def token_ttl(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.token_ttl_seconds)

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


def token_ttl(text: str | None) -> dt.timedelta:
    """The lifetime a CLI asked for ('90d'), within bounds; the default when empty."""
    if not text:
        return DEFAULT_TOKEN_TTL
    ttl = parse_duration(text)
    if ttl > MAX_TOKEN_TTL:
        raise BadRequest(f"A login token lives at most {MAX_TOKEN_TTL.days} days; ask for less.")
    if ttl < dt.timedelta(minutes=5):
        raise BadRequest("A login token lives at least 5 minutes.")
    return ttl


class Devices:
    """Starting, approving and redeeming ``bale login`` codes."""

    def __init__(self, stores: Stores) -> None:
        self.stores = stores
        self.db = stores.db

    def start(self, *, client_name: str = "", expires_in: str | None = None) -> tuple[str, str, DeviceCode]:
        """A new code pair: (device code, user code 'BCDFGHJK', its record)."""
        ttl = token_ttl(expires_in)
        device_code = secrets.token_urlsafe(32)
        user_code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
        created = now()
        record = DeviceCode(
            id=_sha(device_code),
            user_code_sha256=_sha(user_code),
            status=DeviceStatus.PENDING,
            created_at=created,
            expires_at=created + CODE_TTL,
            token_ttl_seconds=int(ttl.total_seconds()),
            client_name=_CLIENT_NAME.sub("", client_name or "")[:64].strip() or "an unnamed machine",
        )
        data = dataclasses.asdict(record)
        del data["id"]
        data["status"] = str(record.status)
        # A TTL policy on purge_at removes spent codes.
        data["purge_at"] = record.expires_at + dt.timedelta(days=1)
        self.db.document(paths.device_code(record.id)).create(data)
        return device_code, user_code, record

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
        from google.cloud.firestore_v1.base_query import FieldFilter

        code = normalize_user_code(user_code)
        if who is not None:
            self._check_attempts(who)
        q = self.db.collection(paths.device_codes()).where(
            filter=FieldFilter("user_code_sha256", "==", _sha(code))
        )
        found = [from_snapshot(DeviceCode, s) for s in q.stream()]
        if not found:
            if who is not None:
                self._note_failure(who)
            raise NotFound(f"No login is waiting for code {display_user_code(code)}; check the code.")
        record = max(found, key=lambda r: r.created_at)
        self._check_pending(record, code)
        return record

    @staticmethod
    def _check_pending(record: DeviceCode, code: str) -> None:
        shown = display_user_code(code)
        if record.status != DeviceStatus.PENDING:
            raise BadRequest(f"Code {shown} was used already; run bale login again for a new one.")
        if record.expired:
            raise BadRequest(f"Code {shown} has expired (codes last 10 minutes); run bale login again.")

    def decide(self, user_code: str, email: str, *, approve: bool) -> DeviceCode:
        """Approve (as ``email``) or deny a pending code, once; refused if expired or decided."""
        from google.cloud import firestore

        code = normalize_user_code(user_code)
        ref = self.db.document(paths.device_code(self.find(code, who=email).id))

        @firestore.transactional
        def txn(tx: Transaction) -> DeviceCode:
            record = from_snapshot(DeviceCode, ref.get(transaction=tx))
            self._check_pending(record, code)  # decided by another tab meanwhile: refused
            record.status = DeviceStatus.APPROVED if approve else DeviceStatus.DENIED
            record.approved_by = email.lower() if approve else None
            record.decided_at = now()
            tx.update(
                ref,
                {
                    "status": str(record.status),
                    "approved_by": record.approved_by,
                    "decided_at": record.decided_at,
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
            Permission.UPLOAD,
            expires_in=outcome.token_ttl,
            description=f"bale login on {outcome.client_name}",
        )
        ref.update({"token_id": token.id})
        return secret, token
