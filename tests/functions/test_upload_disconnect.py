"""A client that hangs up mid-upload: benchmarks/fuzz.py (seed 20261201) saw a 500 for it.

The form parser's read raises ClientDisconnected and the handler answered 400, but
functions-framework's read_request after-request hook re-read the body, raised
ClientDisconnected again, and Flask turned that into a logged 500. Nobody reads the answer;
the point is that the server does not count or log the client's hang-up as its own error.
"""

from __future__ import annotations

import base64
import logging
import socket
import time
from urllib.parse import urlsplit

from factories import wheel_bytes, wheel_name


def _send_half(stack, token: str, *, declared_extra: int) -> tuple[bytes, float]:
    url = urlsplit(stack.url)
    boundary = "bale-boundary"
    data = wheel_bytes("demo", "1.0")
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="protocol_version"\r\n\r\n1\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{wheel_name("demo", "1.0")}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode() + data[: len(data) // 2]
    basic = base64.b64encode(f"__token__:{token}".encode()).decode()
    head = (
        f"POST /v1/upload/acme/main/ HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Basic {basic}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body) + declared_extra}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(head + body)
        s.shutdown(socket.SHUT_WR)  # hang up mid-body
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - started


def test_a_client_hanging_up_mid_upload_is_a_400_not_a_logged_500(stack, caplog):
    token = stack.token()
    with caplog.at_level(logging.ERROR):
        answer, took = _send_half(stack, token, declared_extra=100_000)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"ended early" in answer
    assert took < 10
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    # The stack still answers.
    assert stack.token()
