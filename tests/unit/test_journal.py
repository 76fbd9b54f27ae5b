"""The upload journal of bale dev --data-dir: what is appended comes back whole; a line a
crash cut short (never acknowledged: the answer waits for the fsync) is skipped."""

from __future__ import annotations

import dataclasses
import datetime as dt

from bale.packages import journal
from bale.packages.service import FileRecord


def _record(filename: str) -> FileRecord:
    return FileRecord(
        filename=filename,
        project="demo",
        name="Demo",
        version="1.0",
        packagetype="bdist_wheel",
        python_version="py3",
        size=10,
        sha256="ab" * 32,
        md5="cd" * 16,
        blake2_256="ef" * 32,
        blob_path=f"acme/main/demo/{'ab' * 32}/{filename}",
        metadata_sha256="01" * 32,
        requires_python=">=3.11",
        upload_time=dt.datetime(2026, 12, 7, 8, 0, 0, 123456, tzinfo=dt.UTC),
        uploaded_by="token abc",
        metadata={"summary": "x", "classifiers": ["A :: B"]},
        provenance={"publisher": {"kind": "GitHub"}},
    )


def test_entries_round_trip_and_a_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "uploads.journal"
    one, two = _record("demo-1.0-py3-none-any.whl"), _record("demo-1.0.tar.gz")
    journal.append(str(path), "acme", "main", one, provenance=None)
    journal.append(str(path), "acme", "main", two, provenance='{"attestation_bundles": []}')
    with open(path, "ab") as fh:
        fh.write(b'{"team":"acme","index":"main","record":{"filen')  # a crash mid-write
    got = list(journal.entries(path))
    assert [FileRecord(**e["record"]) for e in got] == [one, two]
    assert got[0]["record"]["upload_time"] == one.upload_time
    assert (got[0]["provenance"], got[1]["provenance"]) == (None, '{"attestation_bundles": []}')
    assert dataclasses.asdict(FileRecord(**got[1]["record"])) == dataclasses.asdict(two)
    assert path.stat().st_mode & 0o777 == 0o600


def test_no_journal_is_no_entries(tmp_path):
    assert list(journal.entries(tmp_path / "missing")) == []
