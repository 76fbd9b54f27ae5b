"""Build real wheels and sdists for tests (valid by default, easy to break on purpose)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name


def metadata_text(
    name: str,
    version: str,
    *,
    requires: list[str] = (),
    classifiers: list[str] = (),
    requires_python: str | None = None,
    summary: str = "A test package",
    description: str = "",
    extra: str = "",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    lines += [f"Classifier: {c}" for c in classifiers]
    if description:
        lines.append("Description-Content-Type: text/markdown")
    text = "\n".join(lines) + "\n" + extra
    if description:
        text += "\n" + description
    return text


def _module(name: str) -> str:
    return canonicalize_name(name).replace("-", "_")


def wheel_bytes(
    name: str,
    version: str,
    *,
    metadata: str | None = None,
    payload: bytes | None = None,
    extra_files: dict[str, bytes] | None = None,
    dist_info: str | None = None,
    **meta_kw,
) -> bytes:
    mod = _module(name)
    dist_info = dist_info or f"{mod}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{mod}/__init__.py": (f'__version__ = "{version}"\n'.encode() + (payload or b"")),
        f"{dist_info}/METADATA": (
            metadata if metadata is not None else metadata_text(name, version, **meta_kw)
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bale-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files.update(extra_files or {})
    record_lines = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{path},sha256={digest},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return buf.getvalue()


def wheel_name(name: str, version: str) -> str:
    return f"{_module(name)}-{version}-py3-none-any.whl"


def make_wheel(directory: Path, name: str, version: str, *, filename: str | None = None, **kw) -> Path:
    """A wheel of ``name`` written to ``directory``, under its normalized filename unless
    ``filename`` names it otherwise (to test what a registry does with such a name)."""
    path = Path(directory) / (filename or wheel_name(name, version))
    path.write_bytes(wheel_bytes(name, version, **kw))
    return path


def sdist_bytes(
    name: str, version: str, *, metadata: str | None = None, payload: bytes = b"", **meta_kw
) -> bytes:
    base = f"{_module(name)}-{version}"
    pkg_info = (metadata if metadata is not None else metadata_text(name, version, **meta_kw)).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in {
            f"{base}/PKG-INFO": pkg_info,
            f"{base}/pyproject.toml": b'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
            f"{base}/{_module(name)}/__init__.py": payload,
        }.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_sdist(directory: Path, name: str, version: str, *, filename: str | None = None, **kw) -> Path:
    path = Path(directory) / (filename or f"{_module(name)}-{version}.tar.gz")
    path.write_bytes(sdist_bytes(name, version, **kw))
    return path
