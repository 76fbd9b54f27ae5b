"""Talking to the upload API directly (for inputs no real client would send)."""

from __future__ import annotations

import base64
import hashlib

import requests


def form_for(filename: str, data: bytes, **fields) -> tuple[dict, dict]:
    form = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }
    form.update({k: v for k, v in fields.items() if v is not None})
    for k in [k for k, v in fields.items() if v is None]:
        form.pop(k, None)
    return form, {"content": (filename, data, "application/octet-stream")}


def post(stack, form, files, token=None, path="/v1/upload/acme/main/", headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Basic " + base64.b64encode(f"__token__:{token}".encode()).decode()
    return requests.post(stack.url + path, data=form, files=files, headers=h, timeout=60)
