"""Local OpenID Connect issuers for Trusted Publishing tests.

One small HTTP server plays four issuers under path prefixes (``/github``, ``/gitlab``,
``/google``, and ``/ghes``: a GitHub Enterprise Server that no setting names), each with real RSA keys made with ``cryptography``, a discovery document, a
JWKS, and, for GitHub, the runner's token request endpoint that uv calls
(``$ACTIONS_ID_TOKEN_REQUEST_URL&audience=…`` with ``Authorization: Bearer …``, answering
``{"value": <jwt>}``) and that signs a token for whatever audience is asked.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from werkzeug.wrappers import Request, Response

AUDIENCE = "bale"
#: Override keys that shape other claims rather than being claims themselves.
PSEUDO_CLAIMS = {"workflow", "ci_config_path"}


class Issuer:
    """One issuer: its keys, the JWKS it publishes, and default claims for its tokens."""

    def __init__(self, name: str, base: str):
        self.name = name
        self.url = f"{base}/{name}"
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.request_token = secrets.token_urlsafe(16)
        self.requests: list[dict] = []
        #: Every path asked of this issuer (discovery, JWKS, token), in order.
        self.fetched: list[str] = []
        #: Claims the token endpoint adds to its defaults (a test sets them).
        self.overrides: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.add_key("key-1")

    def add_key(self, kid: str, *, publish: bool = True, kind: str = "rsa"):
        key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if kind == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        self.keys[kid] = key
        if publish:
            self.published.append(kid)
        return key

    def jwks(self) -> dict:
        out = []
        for kid in self.published:
            key = self.keys[kid].public_key()
            if isinstance(key, rsa.RSAPublicKey):
                jwk = json.loads(RSAAlgorithm.to_jwk(key)) | {"alg": "RS256"}
            else:
                jwk = json.loads(ECAlgorithm.to_jwk(key)) | {"alg": "ES256"}
            out.append(jwk | {"kid": kid, "use": "sig"})
        return {"keys": out}

    def discovery(self) -> dict:
        return {
            "issuer": self.url,
            "jwks_uri": f"{self.url}/jwks",
            "subject_types_supported": ["public"],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    # -- tokens -------------------------------------------------------------------
    def claims(self, **overrides) -> dict:
        """A realistic claim set for this issuer; overrides win (None removes a claim)."""
        opts = {**self.overrides, **overrides}
        t = int(time.time())
        base = {
            "iss": self.url,
            "aud": AUDIENCE,
            "iat": t,
            "nbf": t - 5,
            "exp": t + 300,
            "jti": str(uuid.uuid4()),
        }
        base |= getattr(self, f"_{self.name}_claims")(opts)
        base |= {k: v for k, v in opts.items() if k not in PSEUDO_CLAIMS}
        return {k: v for k, v in base.items() if v is not None}

    def _github_claims(self, o: dict) -> dict:
        repo = o.get("repository", "octo-org/widgets")
        workflow = o.get("workflow", "publish.yml")
        ref = "refs/heads/main"
        return {
            "sub": f"repo:{repo}:ref:{ref}",
            "repository": repo,
            "repository_owner": repo.split("/")[0],
            "repository_owner_id": "1001",
            "repository_id": "2002",
            "repository_visibility": "private",
            "actor": "octocat",
            "actor_id": "3003",
            "event_name": "push",
            "ref": ref,
            "ref_type": "branch",
            "sha": "a" * 40,
            "workflow": "Publish",
            "workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}",
            "job_workflow_ref": f"{repo}/.github/workflows/{workflow}@{ref}",
            "run_id": "424242",
            "run_number": "7",
            "run_attempt": "1",
            "runner_environment": "github-hosted",
        }

    def _gitlab_claims(self, o: dict) -> dict:
        host = self.url.split("://", 1)[1]
        path = o.get("project_path", "acme-group/widgets")
        config = o.get("ci_config_path", ".gitlab-ci.yml")
        return {
            "sub": f"project_path:{path}:ref_type:branch:ref:main",
            "namespace_id": "77",
            "namespace_path": path.rsplit("/", 1)[0],
            "project_id": "88",
            "project_path": path,
            "user_login": "alice",
            "pipeline_id": "999",
            "pipeline_source": "push",
            "job_id": "1234",
            "ref": "main",
            "ref_type": "branch",
            "ref_protected": "true",
            "ci_config_ref_uri": f"{host}/{path}//{config}@refs/heads/main",
            "ci_config_sha": "b" * 40,
            "runner_environment": "gitlab-hosted",
        }

    def _ghes_claims(self, o: dict) -> dict:
        # GitHub Enterprise Server: GitHub's claims from the instance's own issuer.
        return self._github_claims(o) | {"enterprise": "acme-corp"}

    def _google_claims(self, o: dict) -> dict:
        return {
            "sub": "112233445566778899",
            "azp": "112233445566778899",
            "email": "publisher@acme-prod.iam.gserviceaccount.com",
            "email_verified": True,
            "jti": None,  # Google ID tokens carry no jti
            "nbf": None,
        }

    def sign(
        self,
        claims: dict | None = None,
        *,
        kid: str = "key-1",
        alg: str | None = None,
        key: Any = None,
        headers: dict | None = None,
    ) -> str:
        """Sign claims (default: self.claims()) with one of this issuer's keys."""
        claims = self.claims() if claims is None else claims
        key = key if key is not None else self.keys[kid]
        if alg is None:
            alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, **(headers or {})})

    # -- HTTP ---------------------------------------------------------------------
    def serve(self, request: Request, rest: str) -> Response:
        self.fetched.append(rest)
        if rest == "/.well-known/openid-configuration":
            return _json(self.discovery())
        if rest == "/jwks":
            return _json(self.jwks())
        if rest == "/token":
            # GitHub's runner endpoint: the request token authorizes, the audience is a parameter.
            auth = request.headers.get("Authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() != "bearer" or value != self.request_token:
                return _json({"message": "bad request token"}, 401)
            audience = request.args.get("audience", "")
            with self.lock:
                self.requests.append({"audience": audience, "args": dict(request.args)})
            return _json({"count": 1, "value": self.sign(self.claims(aud=audience))})
        return _json({"message": "not found"}, 404)


def _json(data: dict, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


class Issuers:
    """The three issuers behind one server."""

    def __init__(self, base: str):
        self.base = base
        self.github = Issuer("github", base)
        self.gitlab = Issuer("gitlab", base)
        self.google = Issuer("google", base)
        #: Configured by no setting: trusted only through a generic OIDC enrollment.
        self.ghes = Issuer("ghes", base)
        self.all = {i.name: i for i in (self.github, self.gitlab, self.google, self.ghes)}

    def reset(self) -> None:
        for issuer in self.all.values():
            issuer.overrides = {}
            issuer.requests.clear()
            issuer.fetched.clear()
            issuer.published = ["key-1"]
            for kid in list(issuer.keys):
                if kid != "key-1":
                    del issuer.keys[kid]

    def wsgi(self, environ, start_response):
        request = Request(environ)
        name, _, rest = request.path.lstrip("/").partition("/")
        issuer = self.all.get(name)
        resp = issuer.serve(request, "/" + rest) if issuer else _json({"message": "no such issuer"}, 404)
        return resp(environ, start_response)
