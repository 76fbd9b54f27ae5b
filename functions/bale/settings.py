"""Bale's configuration, read from the environment once.

Every other module receives a :class:`Settings` object; only :func:`from_env`
looks at ``os.environ``. Tests and ``bale dev`` build their own instance with
:func:`dataclasses.replace` or by passing an explicit mapping.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping

DEFAULT_PROJECT = "demo-bale"
#: Environment variables an index may name as its upstream's credentials (``env:NAME``).
UPSTREAM_AUTH_PREFIX = "BALE_UPSTREAM_AUTH_"
#: The longest a read may trust a token checked earlier (BALE_TOKEN_CACHE_SECONDS).
MAX_TOKEN_CACHE_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Settings:
    #: Google Cloud project that holds Firestore and the bucket.
    project: str = DEFAULT_PROJECT
    #: Cloud Storage bucket for distribution files and their METADATA.
    bucket: str = "bale-files"
    #: host:port of the Firestore emulator, or None for real Firestore.
    firestore_emulator_host: str | None = None
    #: host:port (or URL) of the Cloud Storage emulator, or None for real GCS.
    storage_emulator_host: str | None = None
    #: host:port of the Firebase Auth emulator, or None for real Firebase Auth.
    auth_emulator_host: str | None = None
    #: Public base URL clients see, e.g. https://pypi.example.com. Empty: use the request's host.
    base_url: str = ""
    #: Namespaces of private classifiers, each with the same rules: ``Private :: <ns>`` (anywhere
    #: on this registry) and ``Private :: <ns> :: <team>`` (that team only). Several let packages
    #: marked for another registry (``Private :: pyx :: acme``) publish unchanged.
    private_namespaces: tuple[str, ...] = ("bale",)
    #: OpenID Connect issuers trusted for Trusted Publishing.
    github_oidc_issuer: str = "https://token.actions.githubusercontent.com"
    gitlab_oidc_issuer: str = "https://gitlab.com"
    google_oidc_issuer: str = "https://accounts.google.com"
    #: Audience expected in OIDC tokens (``/_/oidc/audience`` returns it).
    oidc_audience: str = "bale"
    #: Largest accepted upload body; bigger ones get 413.
    max_upload_bytes: int = 100 * 1024 * 1024
    #: Largest total uncompressed size of an archive, and largest compression ratio.
    max_uncompressed_bytes: int = 1024 * 1024 * 1024
    max_compression_ratio: int = 200
    #: Lifetime of tokens minted by Trusted Publishing, in seconds.
    minted_token_ttl: int = 15 * 60
    #: Lifetime of Trusted Access read tokens, in seconds (capped at an hour).
    read_token_ttl: int = 60 * 60
    #: A sigstore ``trusted_root.json`` that attestations are verified against; empty: Sigstore's
    #: production root bundled in the sigstore package (never refreshed over the network).
    sigstore_trusted_root: str = ""
    #: How long a call that writes a file's bytes to Cloud Storage may take, retries included,
    #: before the upload fails with 503 (a large wheel is many requests of 8 MiB).
    storage_timeout: int = 60
    #: Deadlines, in seconds, retries included, after which the request is answered 503 with
    #: Retry-After (see bale.store.guard). Reads by key (the Simple API's, a token's, an
    #: upload's checks) and Cloud Storage's other calls (reads, deletes, listings) get the
    #: read deadline; commits, transactions and queries the write deadline. Both stay well
    #: under the functions' request timeouts (terraform/functions.tf).
    firestore_read_deadline: float = 5.0
    firestore_write_deadline: float = 15.0
    storage_read_deadline: float = 5.0
    #: How many of an instance's requests may wait on one backend (Firestore or Cloud Storage)
    #: at once; one more waits ``backend_slot_wait`` seconds for a slot, then gets 503, so a
    #: sick backend never holds every thread (0: the instance's threads minus one, at least 1).
    backend_slots: int = 0
    backend_slot_wait: float = 1.0
    #: After this many calls to one backend in a row end past their deadline (or unreachable),
    #: its calls fail at once (503) for ``breaker_cooldown`` seconds, jittered by half either
    #: way; then one call tries it again, and its success closes the breaker. 0: no breaker.
    breaker_threshold: int = 3
    breaker_cooldown: float = 5.0
    #: The instance's request threads (functions-framework's THREADS: 4 per CPU by default).
    threads: int = 4
    #: Files of at least this many bytes are answered with a redirect to a short-lived signed
    #: Cloud Storage URL (where the service account can sign), so a large download does not
    #: hold a function instance for the whole transfer; smaller ones are streamed (one storage
    #: read, no second round trip for the client). 0: redirect every file.
    signed_url_min_bytes: int = 4 * 1024 * 1024
    #: The largest file the simple function streams itself, whatever signed_url_min_bytes
    #: says: Cloud Run (and so Cloud Functions) cuts an HTTP/1 response at 32 MiB, so a larger
    #: file is always redirected, or refused with 503 if no URL can be signed. 1 MiB is left
    #: for headers. Only the emulator, which cannot sign, streams files of any size (bale dev).
    max_streamed_bytes: int = 31 * 1024 * 1024
    #: Local stacks only: on the storage emulator, sign download URLs anyway, as production
    #: signs them (application-default credentials: a local metadata server and a local
    #: signBlob), for URLs on the emulator's own address, which serves them without checking
    #: the signature. ``bale dev --production-shape`` and tests/deploy/test_smoke.py use it so
    #: that large downloads leave the simple function as in production. Ignored off the emulator.
    sign_on_emulator: bool = False
    #: How long the Simple API (reads only) may answer from a token it checked earlier in this
    #: instance, in seconds: a revoked token, a removed member or a narrowed role stops reading
    #: at most this long after the change. Uploads, Trusted Publishing and the dashboard always
    #: read the token. 0: read it on every request. At most 60.
    token_cache_seconds: int = 2
    #: Secret for the dashboard's session cookies.
    secret_key: str = "dev-only-not-secret"
    #: The Firebase project's Web API key, for the dashboard's sign-in (public: it identifies
    #: the project and grants nothing). Needed in production; the Auth emulator takes any value.
    firebase_api_key: str = ""
    #: OAuth 2.0 web client for "Sign in with Google" on the dashboard; both empty: no Google sign-in.
    google_oauth_client_id: str = ""
    google_oauth_client_secret: str = dataclasses.field(default="", repr=False)
    #: Google's OAuth 2.0 endpoints (tests point them at a local fake).
    google_oauth_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"
    #: The upstream an index gets when an admin enables one without naming a URL.
    default_upstream_url: str = "https://pypi.org/simple/"
    #: How many right-most X-Forwarded-For entries the proxies in front of the dashboard append,
    #: counting the client's own address: the client is the entry that many from the right,
    #: and anything left of it was sent by the client and is never believed. 2: the external
    #: HTTPS load balancer of terraform/ (the dashboard takes no other ingress), which appends
    #: "<client>,<load balancer>". 1: Cloud Run's own front end alone (its run.app URL), which
    #: appends the client. 0: no proxy (bale dev): the connection's address.
    forwarded_hops: int = 2
    #: How long a cached upstream page is used before it is revalidated (ETag), in seconds.
    upstream_page_ttl: int = 300
    #: Time limit of one upstream page fetch, connect to last byte (a slow drip is cut off), in
    #: seconds; and of one upstream file fetch.
    upstream_page_timeout: int = 15
    upstream_file_timeout: int = 300
    #: Largest upstream page and file Bale will read; bigger ones are refused (502).
    upstream_max_page_bytes: int = 32 * 1024 * 1024
    upstream_max_file_bytes: int = 1024 * 1024 * 1024
    #: Most files an upstream page may list (PyPI's largest projects have tens of thousands);
    #: a page with more is refused (502), so a hostile upstream can't exhaust memory.
    upstream_max_files: int = 50_000
    #: Upstream files one instance copies at once; a first download beyond them is a 503 with
    #: Retry-After (each copy streams through about two 1 MiB chunks; METADATA copies, at most
    #: 4 MiB, are not counted).
    upstream_max_copies: int = 4
    #: Upstream credentials named ``env:NAME`` by an index: the ``BALE_UPSTREAM_AUTH_*``
    #: variables, read here once as (name, value) pairs (a tuple: Settings stays hashable).
    upstream_credentials: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    #: Where a credentials name is looked up: "local" (those variables, then
    #: ``upstream_credentials_dir/{team}/{name}``) or "secret-manager" (the secret
    #: ``bale-upstream-{team}-{name}`` of this project).
    upstream_secrets: str = "local"
    upstream_credentials_dir: str = ""
    #: Whether upstreams (and their redirects and file links) may be on loopback, over plain
    #: http too: only for the local stack and tests. Off (production), Bale connects to public
    #: addresses only, over https (see bale.upstream.addresses).
    upstream_allow_loopback: bool = False
    #: ``bale dev --data-dir`` only: the file each upload's record is appended (and fsync'd) to
    #: before it is answered, replayed when bale dev starts (bale.packages.journal). Empty: none.
    dev_journal: str = ""
    #: The public advisories' source (OSV's PyPI export), read by the daily refresh
    #: (bale.advisories.refresh), the largest export it downloads, and how long the download
    #: may take, in seconds.
    advisories_url: str = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
    advisories_max_bytes: int = 256 * 1024 * 1024
    advisories_timeout: int = 600
    #: The service account Cloud Scheduler calls the refresh as (its ID token's ``email``); the
    #: refresh refuses every other caller, and every caller when this is empty.
    advisories_invoker: str = ""

    @property
    def private_namespace(self) -> str:
        """The first private namespace: the one messages suggest."""
        return self.private_namespaces[0]

    @property
    def using_emulators(self) -> bool:
        return bool(self.firestore_emulator_host)


def _int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{key} must be more than 0, got {raw!r}")
    return value


def _token_cache_seconds(env: Mapping[str, str], default: int) -> int:
    seconds = _int(env, "BALE_TOKEN_CACHE_SECONDS", default)
    if not 0 <= seconds <= MAX_TOKEN_CACHE_SECONDS:
        raise ValueError(
            f"BALE_TOKEN_CACHE_SECONDS must be 0 to {MAX_TOKEN_CACHE_SECONDS} (a revocation must "
            f"take effect within seconds), got {seconds}"
        )
    return seconds


def _forwarded_hops(env: Mapping[str, str], default: int) -> int:
    hops = _int(env, "BALE_FORWARDED_HOPS", default)
    if not 0 <= hops <= 5:
        raise ValueError(f"BALE_FORWARDED_HOPS must be 0 to 5 (proxies in front), got {hops}")
    return hops


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{key} must be 1 or 0 (true or false), got {raw!r}")


def _names(raw: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """'bale, pyx' -> ('bale', 'pyx'); empty: ``default``."""
    names = tuple(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
    return names or default


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from environment variables (see README's configuration table)."""
    env = os.environ if env is None else env
    d = Settings()
    return Settings(
        project=env.get("GOOGLE_CLOUD_PROJECT") or env.get("GCLOUD_PROJECT") or d.project,
        bucket=env.get("BALE_BUCKET") or d.bucket,
        firestore_emulator_host=env.get("FIRESTORE_EMULATOR_HOST") or None,
        storage_emulator_host=env.get("STORAGE_EMULATOR_HOST") or None,
        auth_emulator_host=env.get("FIREBASE_AUTH_EMULATOR_HOST") or None,
        base_url=(env.get("BALE_BASE_URL") or "").rstrip("/"),
        private_namespaces=_names(
            env.get("BALE_PRIVATE_NAMESPACES") or env.get("BALE_PRIVATE_NAMESPACE"), d.private_namespaces
        ),
        github_oidc_issuer=env.get("BALE_GITHUB_OIDC_ISSUER") or d.github_oidc_issuer,
        gitlab_oidc_issuer=env.get("BALE_GITLAB_OIDC_ISSUER") or d.gitlab_oidc_issuer,
        google_oidc_issuer=env.get("BALE_GOOGLE_OIDC_ISSUER") or d.google_oidc_issuer,
        oidc_audience=env.get("BALE_OIDC_AUDIENCE") or d.oidc_audience,
        max_upload_bytes=_int(env, "BALE_MAX_UPLOAD_BYTES", d.max_upload_bytes),
        max_uncompressed_bytes=_int(env, "BALE_MAX_UNCOMPRESSED_BYTES", d.max_uncompressed_bytes),
        max_compression_ratio=_int(env, "BALE_MAX_COMPRESSION_RATIO", d.max_compression_ratio),
        minted_token_ttl=_int(env, "BALE_MINTED_TOKEN_TTL", d.minted_token_ttl),
        read_token_ttl=_int(env, "BALE_READ_TOKEN_TTL", d.read_token_ttl),
        storage_timeout=_int(env, "BALE_STORAGE_TIMEOUT", d.storage_timeout),
        firestore_read_deadline=_float(env, "BALE_FIRESTORE_READ_DEADLINE", d.firestore_read_deadline),
        firestore_write_deadline=_float(env, "BALE_FIRESTORE_WRITE_DEADLINE", d.firestore_write_deadline),
        storage_read_deadline=_float(env, "BALE_STORAGE_READ_DEADLINE", d.storage_read_deadline),
        backend_slots=_int(env, "BALE_BACKEND_SLOTS", d.backend_slots),
        backend_slot_wait=_float(env, "BALE_BACKEND_SLOT_WAIT", d.backend_slot_wait),
        breaker_threshold=_int(env, "BALE_BREAKER_THRESHOLD", d.breaker_threshold),
        breaker_cooldown=_float(env, "BALE_BREAKER_COOLDOWN", d.breaker_cooldown),
        dev_journal=env.get("BALE_DEV_JOURNAL") or d.dev_journal,
        advisories_url=env.get("BALE_ADVISORIES_URL") or d.advisories_url,
        advisories_max_bytes=_int(env, "BALE_ADVISORIES_MAX_BYTES", d.advisories_max_bytes),
        advisories_timeout=_int(env, "BALE_ADVISORIES_TIMEOUT", d.advisories_timeout),
        advisories_invoker=(env.get("BALE_ADVISORIES_INVOKER") or d.advisories_invoker).strip().lower(),
        threads=_int(env, "THREADS", (os.cpu_count() or 1) * 4),
        signed_url_min_bytes=_int(env, "BALE_SIGNED_URL_MIN_BYTES", d.signed_url_min_bytes),
        max_streamed_bytes=_int(env, "BALE_MAX_STREAMED_BYTES", d.max_streamed_bytes),
        sign_on_emulator=_bool(env, "BALE_SIGN_ON_EMULATOR", d.sign_on_emulator),
        token_cache_seconds=_token_cache_seconds(env, d.token_cache_seconds),
        sigstore_trusted_root=env.get("BALE_SIGSTORE_TRUSTED_ROOT") or d.sigstore_trusted_root,
        secret_key=env.get("BALE_SECRET_KEY") or d.secret_key,
        firebase_api_key=env.get("BALE_FIREBASE_API_KEY") or d.firebase_api_key,
        google_oauth_client_id=env.get("BALE_GOOGLE_OAUTH_CLIENT_ID") or d.google_oauth_client_id,
        google_oauth_client_secret=env.get("BALE_GOOGLE_OAUTH_CLIENT_SECRET") or d.google_oauth_client_secret,
        google_oauth_auth_url=env.get("BALE_GOOGLE_OAUTH_AUTH_URL") or d.google_oauth_auth_url,
        google_oauth_token_url=env.get("BALE_GOOGLE_OAUTH_TOKEN_URL") or d.google_oauth_token_url,
        default_upstream_url=env.get("BALE_DEFAULT_UPSTREAM_URL") or d.default_upstream_url,
        forwarded_hops=_forwarded_hops(env, d.forwarded_hops),
        upstream_page_ttl=_int(env, "BALE_UPSTREAM_PAGE_TTL", d.upstream_page_ttl),
        upstream_page_timeout=_int(env, "BALE_UPSTREAM_PAGE_TIMEOUT", d.upstream_page_timeout),
        upstream_file_timeout=_int(env, "BALE_UPSTREAM_FILE_TIMEOUT", d.upstream_file_timeout),
        upstream_max_page_bytes=_int(env, "BALE_UPSTREAM_MAX_PAGE_BYTES", d.upstream_max_page_bytes),
        upstream_max_file_bytes=_int(env, "BALE_UPSTREAM_MAX_FILE_BYTES", d.upstream_max_file_bytes),
        upstream_max_files=_int(env, "BALE_UPSTREAM_MAX_FILES", d.upstream_max_files),
        upstream_max_copies=_int(env, "BALE_UPSTREAM_MAX_COPIES", d.upstream_max_copies),
        upstream_secrets=env.get("BALE_UPSTREAM_SECRETS") or d.upstream_secrets,
        upstream_credentials_dir=env.get("BALE_UPSTREAM_CREDENTIALS_DIR") or d.upstream_credentials_dir,
        upstream_allow_loopback=_bool(env, "BALE_UPSTREAM_ALLOW_LOOPBACK", d.upstream_allow_loopback),
        upstream_credentials=tuple(
            sorted((k, v) for k, v in env.items() if k.startswith(UPSTREAM_AUTH_PREFIX) and v)
        ),
    )


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return from_env()
