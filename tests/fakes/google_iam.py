"""Google's side of keyless signing, offline: a metadata server and the IAM Credentials API.

On Cloud Run the credentials come from the metadata server and hold no private key, so a
signed URL is signed by IAM (``signBlob``) for the service account. These fakes speak the
same wire protocol to the real libraries:

* :class:`MetadataServer` answers google-auth's Compute Engine calls (``GCE_METADATA_HOST`` /
  ``GCE_METADATA_IP``): the ping, the account's info and email, and fresh access tokens, only
  with ``Metadata-Flavor: Google``, as the real one does.
* :class:`IamCredentials` answers ``POST /v1/projects/-/serviceAccounts/{email}:signBlob``,
  signing with a test RSA key (RSASSA-PKCS1-v1_5, SHA-256, as IAM signs for a Google-managed
  key), and only for a token the metadata server issued and the account it issued it to.
* google-cloud-storage calls ``https://iamcredentials.googleapis.com`` by a hard-coded URL, so
  :class:`ConnectProxy` (an HTTPS proxy, which ``requests`` takes from ``HTTPS_PROXY``) carries
  that host's connections to the local API, served over TLS with a certificate for that name
  from a throwaway CA (``REQUESTS_CA_BUNDLE``). The libraries and Bale run unchanged.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import socket
import socketserver
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from fakes.server import Server

IAM_HOST = "iamcredentials.googleapis.com"
EMAIL = "bale-simple@demo-bale.iam.gserviceaccount.com"


def _json(start_response, status: str, body, headers=()) -> list[bytes]:
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers]
    )
    return [data]


class MetadataServer:
    """The metadata server of a Cloud Run instance whose service account is ``email``."""

    def __init__(self, email: str = EMAIL, project: str = "demo-bale") -> None:
        self.email = email
        self.project = project
        self.tokens: list[str] = []  # every access token handed out, oldest first
        self.requests: list[tuple[str, str]] = []  # (path, query)
        self._serial = itertools.count(1)
        self.server = Server(self)

    def __call__(self, environ, start_response):
        path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
        self.requests.append((path, query))
        flavor = [("Metadata-Flavor", "Google")]
        if environ.get("HTTP_METADATA_FLAVOR") != "Google":
            return _json(start_response, "403 Forbidden", b"Missing Metadata-Flavor:Google header.")
        if path == "/":
            return _json(start_response, "200 OK", b"computeMetadata/\n", flavor)
        base = "/computeMetadata/v1/"
        rest = path[len(base) :] if path.startswith(base) else ""
        account = "instance/service-accounts/{}/"
        for alias in ("default", self.email):
            prefix = account.format(alias)
            if rest == prefix and "recursive=true" in query:
                info = {
                    "aliases": ["default"],
                    "email": self.email,
                    "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
                }
                return _json(start_response, "200 OK", info, flavor)
            if rest == prefix + "email":
                start_response("200 OK", [("Content-Type", "application/text"), *flavor])
                return [self.email.encode()]
            if rest == prefix + "token":
                token = f"ya29.test-{next(self._serial)}"
                self.tokens.append(token)
                return _json(
                    start_response,
                    "200 OK",
                    {"access_token": token, "expires_in": 3599, "token_type": "Bearer"},
                    flavor,
                )
        if rest == "project/project-id":
            start_response("200 OK", [("Content-Type", "application/text"), *flavor])
            return [self.project.encode()]
        if rest == "universe/universe-domain":
            start_response("200 OK", [("Content-Type", "application/text"), *flavor])
            return [b"googleapis.com"]
        start_response("404 Not Found", [("Content-Type", "text/plain"), *flavor])
        return [b"not found"]


class IamCredentials:
    """``signBlob`` of the IAM Credentials API, for the one account ``metadata`` speaks for."""

    def __init__(self, metadata: MetadataServer, key: rsa.RSAPrivateKey) -> None:
        self.metadata = metadata
        self.key = key
        self.key_id = "0123456789abcdef0123456789abcdef01234567"
        #: Each call: {"email", "authorization", "payload"} (payload decoded).
        self.calls: list[dict[str, str | bytes]] = []
        #: Set to answer every call with this status, as IAM does without the permission.
        self.refuse: str | None = None

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        prefix, suffix = "/v1/projects/-/serviceAccounts/", ":signBlob"
        if environ["REQUEST_METHOD"] != "POST" or not (path.startswith(prefix) and path.endswith(suffix)):
            return _json(start_response, "404 Not Found", {"error": {"code": 404, "message": "not found"}})
        email = path[len(prefix) : -len(suffix)]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}")
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        payload = base64.b64decode(body.get("payload", ""))
        self.calls.append({"email": email, "authorization": authorization, "payload": payload})
        if self.refuse:
            status = self.refuse
            error = {
                "code": int(status.split()[0]),
                "message": "Permission 'iam.serviceAccounts.signBlob' denied",
                "status": "PERMISSION_DENIED",
            }
            return _json(start_response, status, {"error": error})
        # The real API checks who the token belongs to; here only tokens the metadata server
        # gave out, for its own account.
        token = authorization.removeprefix("Bearer ")
        if not authorization.startswith("Bearer ") or token not in self.metadata.tokens:
            return _json(
                start_response, "401 Unauthorized", {"error": {"code": 401, "status": "UNAUTHENTICATED"}}
            )
        if email != self.metadata.email:
            return _json(
                start_response, "403 Forbidden", {"error": {"code": 403, "status": "PERMISSION_DENIED"}}
            )
        signature = self.key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return _json(
            start_response,
            "200 OK",
            {"keyId": self.key_id, "signedBlob": base64.b64encode(signature).decode()},
        )


def make_tls(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for ``hostname``: (ca.pem, cert.pem, key.pem)."""
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("Bale test CA"))
        .issuer_name(name("Bale test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(hostname))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    paths = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    paths[0].write_bytes(ca.public_bytes(pem))
    paths[1].write_bytes(cert.public_bytes(pem))
    paths[2].write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class ConnectProxy:
    """An HTTPS proxy that carries CONNECTs to ``routes[host:port]`` and refuses the rest."""

    def __init__(self, routes: dict[str, tuple[str, int]]) -> None:
        self.routes = routes
        self.connects: list[str] = []  # every CONNECT target asked for
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-proxy", daemon=True)

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        self.connects.append(f"{method} {target}")
        if method != "CONNECT" or target not in self.routes:
            client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        upstream = socket.create_connection(self.routes[target])
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pipe, args=(upstream, client), daemon=True)
        back.start()
        pipe(client, upstream)
        back.join(timeout=10)
        upstream.close()

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class GoogleIam:
    """The metadata server, signBlob over TLS and the proxy that reaches it, all running.

    ``env`` is what a process needs to use them through the real libraries."""

    def __init__(self, directory: Path, email: str = EMAIL, project: str = "demo-bale") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.metadata = MetadataServer(email, project)
        self.iam = IamCredentials(self.metadata, self.key)
        self.ca, cert, key = make_tls(directory, IAM_HOST)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.iam_server = Server(self.iam)
        self.iam_server.httpd.socket = context.wrap_socket(self.iam_server.httpd.socket, server_side=True)
        self.proxy = ConnectProxy({f"{IAM_HOST}:443": ("127.0.0.1", self.iam_server.port)})

    def key_info(self) -> dict[str, str]:
        """The test key as a service-account key file's JSON (to sign the same URL locally)."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.metadata.project,
            "private_key_id": self.iam.key_id,
            "private_key": pem,
            "client_email": self.metadata.email,
            "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token",
        }

    @property
    def env(self) -> dict[str, str]:
        host = f"127.0.0.1:{self.metadata.server.port}"
        return {
            "GCE_METADATA_HOST": host,
            "GCE_METADATA_IP": host,
            "HTTPS_PROXY": self.proxy.url,
            "https_proxy": self.proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": str(self.ca),
        }

    def __enter__(self) -> GoogleIam:
        self.metadata.server.start()
        self.iam_server.start()
        self.proxy.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.proxy.__exit__()
        self.iam_server.stop()
        self.metadata.server.stop()
