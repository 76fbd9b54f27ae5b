"""The small records stored inside documents have one spelling: every key a writer puts in a
page entry or a grant is one its TypedDict declares, so a reader checked by mypy reads it."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bale.packages.service import FileRecord, page_entry
from bale.store.records import Grant, PageEntry
from bale.upstream.client import make_entry

ALL = PageEntry.__required_keys__ | PageEntry.__optional_keys__


def _record(**kw) -> FileRecord:
    return FileRecord(
        filename="demo-1.0-py3-none-any.whl",
        project="demo",
        name="Demo",
        version="1.0",
        packagetype="bdist_wheel",
        python_version="py3",
        size=10,
        sha256="ab" * 32,
        md5="cd" * 16,
        blake2_256="ef" * 32,
        blob_path="acme/main/demo/x/demo-1.0-py3-none-any.whl",
        metadata_sha256="01" * 32,
        requires_python=">=3.11",
        upload_time=dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
        uploaded_by="token abc",
        metadata={},
        **kw,
    )


def test_bales_page_entries_use_only_declared_keys_and_stay_compact():
    full = page_entry(_record(yanked=True, yanked_reason="broken", provenance={"p": 1}))
    assert set(full) <= ALL
    assert set(full) == {"f", "v", "h", "s", "t", "r", "m", "y", "p"}  # the stored keys, unchanged
    bare = page_entry(dataclasses.replace(_record(), requires_python=None, metadata_sha256=None))
    assert set(bare) == set(PageEntry.__required_keys__) | {"s", "t"}


def test_upstream_page_entries_use_only_declared_keys():
    e = make_entry(
        "demo",
        "https://files.example/demo-1.0-py3-none-any.whl",
        "AB" * 32,
        requires_python=">=3.9",
        yanked="bad",
        metadata="cd" * 32,
        size=5,
        uploaded="2026-01-01T00:00:00Z",
    )
    assert e is not None and set(e) <= ALL
    assert set(e) == {"f", "v", "h", "u", "s", "t", "r", "m", "y"}


def test_grants_declare_what_minting_stores():
    assert Grant.__required_keys__ == {"team", "index", "projects"}
    assert Grant.__optional_keys__ == {"publisher", "description"}
