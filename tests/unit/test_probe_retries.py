"""The version probe's handling of gRPC failures: absent is None, transient is retried, the
rest is raised as google.api_core exceptions (no server here: the call is replaced)."""

from __future__ import annotations

import grpc
import pytest
from google.api_core import exceptions
from google.cloud.firestore_v1.types import Document

from bale.settings import Settings
from bale.store import probe as probe_mod
from bale.store.probe import DocumentProbe


class RpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._code.name

    def trailing_metadata(self) -> None:
        return None


def probe_with(outcomes: list, monkeypatch) -> tuple[DocumentProbe, list]:
    p = DocumentProbe(Settings(project="demo-bale", firestore_emulator_host="127.0.0.1:1"))
    seen: list = []

    def call(request, metadata, timeout):
        seen.append((request.name, list(request.mask.field_paths), dict(metadata), timeout))
        out = outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return out

    monkeypatch.setattr(p, "_stub", lambda: call)
    monkeypatch.setattr(probe_mod.time, "sleep", lambda s: None)
    return p, seen


def doc(serial: int) -> object:
    pb = Document.pb()()
    pb.fields["serial"].integer_value = serial
    pb.update_time.seconds, pb.update_time.nanos = 1700000000, 123
    return pb


def test_a_document_gives_its_version_and_masked_fields(monkeypatch):
    p, seen = probe_with([doc(7)], monkeypatch)
    found = p.get("teams/acme/indexes/main/projects/widgets", ["serial"])
    assert found.update_time == (1700000000, 123)
    assert found.fields["serial"].integer_value == 7
    ((name, mask, metadata, _),) = seen
    assert name == "projects/demo-bale/databases/(default)/documents/teams/acme/indexes/main/projects/widgets"
    assert mask == ["serial"]
    assert metadata["google-cloud-resource-prefix"] == "projects/demo-bale/databases/(default)"
    assert metadata["x-goog-request-params"].startswith(
        "name=projects/demo-bale/databases/%28default%29/documents/"
    )


def test_a_missing_document_is_none(monkeypatch):
    p, _ = probe_with([RpcError(grpc.StatusCode.NOT_FOUND)], monkeypatch)
    assert p.get("a/b", ["serial"]) is None


def test_transient_failures_are_retried(monkeypatch):
    p, seen = probe_with(
        [RpcError(grpc.StatusCode.UNAVAILABLE), RpcError(grpc.StatusCode.DEADLINE_EXCEEDED), doc(3)],
        monkeypatch,
    )
    assert p.get("a/b", ["serial"]).fields["serial"].integer_value == 3
    assert len(seen) == 3


def test_other_failures_are_raised_at_once_as_api_core_errors(monkeypatch):
    p, seen = probe_with([RpcError(grpc.StatusCode.PERMISSION_DENIED)], monkeypatch)
    with pytest.raises(exceptions.GoogleAPICallError):
        p.get("a/b", ["serial"])
    assert len(seen) == 1


def test_retries_stop_at_the_deadline(monkeypatch):
    p, seen = probe_with([RpcError(grpc.StatusCode.UNAVAILABLE)] * 1000, monkeypatch)
    clock = [0.0]

    def monotonic() -> float:
        clock[0] += 1.0
        return clock[0]

    monkeypatch.setattr(probe_mod.time, "monotonic", monotonic)
    with pytest.raises(exceptions.GoogleAPICallError):
        p.get("a/b", ["serial"])
    # One tick of this clock is a second: no more attempts than the read deadline has seconds,
    # and none given more time than is left of it.
    deadline = p.settings.firestore_read_deadline
    assert 1 < len(seen) <= deadline
    assert all(timeout <= deadline for *_, timeout in seen)


# -- several documents in one BatchGetDocuments ------------------------------------------------
def batch_with(outcomes: list, monkeypatch) -> tuple[DocumentProbe, list]:
    p = DocumentProbe(Settings(project="demo-bale", firestore_emulator_host="127.0.0.1:1"))
    seen: list = []

    def call(request, metadata, timeout):
        seen.append((list(request.documents), list(request.mask.field_paths), dict(metadata), timeout))
        out = outcomes.pop(0)
        if isinstance(out, BaseException):
            raise out
        return iter(out)

    monkeypatch.setattr(p, "_batch_stub", lambda: call)
    monkeypatch.setattr(probe_mod.time, "sleep", lambda s: None)
    return p, seen


DB = "projects/demo-bale/databases/(default)/documents/"


def found(path: str, serial: int) -> object:
    from google.cloud.firestore_v1.types import BatchGetDocumentsResponse

    pb = BatchGetDocumentsResponse.pb()()
    pb.found.name = DB + path
    pb.found.fields["serial"].integer_value = serial
    pb.found.update_time.seconds = 1700000000 + serial
    return pb


def missing(path: str) -> object:
    from google.cloud.firestore_v1.types import BatchGetDocumentsResponse

    return BatchGetDocumentsResponse.pb()(missing=DB + path)


def test_many_documents_come_back_in_the_order_asked_whatever_the_stream_order(monkeypatch):
    p, seen = batch_with([[found("c/3", 3), missing("b/2"), found("a/1", 1)]], monkeypatch)
    got = p.get_many(["a/1", "b/2", "c/3"], ["serial"])
    assert [g and g.fields["serial"].integer_value for g in got] == [1, None, 3]
    assert got[2].update_time == (1700000003, 0)
    ((names, mask, metadata, _),) = seen
    assert names == [DB + "a/1", DB + "b/2", DB + "c/3"] and mask == ["serial"]
    assert metadata["x-goog-request-params"] == "database=projects/demo-bale/databases/%28default%29"


def test_a_failed_batch_is_retried_whole_then_raised(monkeypatch):
    p, seen = batch_with(
        [RpcError(grpc.StatusCode.UNAVAILABLE), [found("a/1", 1), missing("b/2")]], monkeypatch
    )
    assert p.get_many(["a/1", "b/2"], ["serial"])[1] is None
    assert len(seen) == 2
    p, seen = batch_with([RpcError(grpc.StatusCode.PERMISSION_DENIED)], monkeypatch)
    with pytest.raises(exceptions.GoogleAPICallError):
        p.get_many(["a/1", "b/2"], ["serial"])
    # NOT_FOUND for the whole call is the database's, not a document's: never "all missing".
    p, seen = batch_with([RpcError(grpc.StatusCode.NOT_FOUND)], monkeypatch)
    with pytest.raises(exceptions.NotFound):
        p.get_many(["a/1"], ["serial"])
