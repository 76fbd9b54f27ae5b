"""The Firestore client's channel reads server streams on the calling thread (docs/performance.md).

No emulator is needed: a gRPC channel connects only when a call is made, and none is made.
"""

from __future__ import annotations

import grpc
import pytest

from bale.settings import Settings
from bale.store.backends import Stores


@pytest.mark.parametrize("emulator", ["127.0.0.1:9", None])
def test_batch_reads_run_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch, emulator: str | None) -> None:
    if emulator:
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulator)
    else:
        # Production's path (a TLS channel to firestore.googleapis.com), with credentials that
        # need no metadata server.
        import google.auth
        from google.auth.credentials import AnonymousCredentials

        monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
        monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "demo-bale"))
    db = Stores(Settings(project="demo-bale")).db
    # get_all's RPC (unary-stream): gRPC builds it single-threaded only when the channel was
    # made with the option; otherwise every call starts a channel spin thread.
    rpc = db._firestore_api._transport.batch_get_documents
    assert type(rpc).__name__ == "_SingleThreadedUnaryStreamMultiCallable", type(rpc)
    assert grpc.experimental.ChannelOptions.SingleThreadedUnaryStream == "SingleThreadedUnaryStream"
