"""One document's version and a few of its fields, in one small unary call.

The Firestore client reads documents through ``BatchGetDocuments``, a server-streaming call:
for one document on a warm instance that costs about 1.7 ms of CPU here (the streaming
call's set-up, proto-plus decoding, and two deep copies of the snapshot's data), against about
0.4 ms for a unary ``GetDocument`` with a field mask. The Simple API's warm requests need
exactly that: whether the project changed since this instance rendered its page (its
``update_time`` and ``serial``).

:class:`DocumentProbe` calls ``google.firestore.v1.Firestore/GetDocument`` through a gRPC
channel of its own, with the request and response types google-cloud-firestore ships (their
plain protobuf classes) and the channel its transport makes (``create_channel``: Application
Default Credentials, Firestore's scopes, TLS); against the emulator, an insecure channel
that acts as the owner, as the Firestore client does. Transient failures are retried with
backoff within the read deadline (``firestore_read_deadline``, each attempt getting what is
left of it), then raised as google.api_core exceptions; the call goes through Firestore's
:class:`~bale.store.guard.Guard` like the client's.

Several documents at once (:meth:`DocumentProbe.get_many`, a view's sources) go in one
``BatchGetDocuments`` with the same mask, on the same channel, made with gRPC's
``SingleThreadedUnaryStream`` option: the stream is then read on the caller's thread, like a
unary call, instead of through a rendezvous with the channel's spin thread. Against the
emulator (``benchmarks/probe.py``, docs/performance.md): two documents in one such call cost
about 0.38 ms of CPU, one unary call 0.26 ms, two unary calls 0.55 ms, and the same stream on a
channel without the option 0.54 ms.

Concurrent probes of one document (or one list of them) are coalesced (:class:`Coalescer`): a
request joins a probe that has not started yet, never one already in flight, so every answer
still comes from a read that began after the request arrived.
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Final, Generic, NamedTuple, TypeVar

from bale.settings import Settings
from bale.store.guard import Guard

METHOD: Final = "/google.firestore.v1.Firestore/GetDocument"
BATCH_METHOD: Final = "/google.firestore.v1.Firestore/BatchGetDocuments"
FIRESTORE_HOST: Final = "firestore.googleapis.com:443"

T = TypeVar("T")


class Probe(NamedTuple):
    """What a probe found: the document's last write time and the masked fields (raw
    protobuf ``Value`` messages, read with ``.integer_value``, ``.string_value``, ...)."""

    update_time: tuple[int, int]  # (seconds, nanos): changes on every write to the document
    fields: Any  # Mapping[str, google.cloud.firestore_v1.types.Value (protobuf)]


class _Flight(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.started = False
        self.result: T | None = None
        self.error: BaseException | None = None


class Coalescer(Generic[T]):
    """Runs ``fn`` once for all the callers of one key that arrive while an earlier call for
    that key is in flight: they share the next call, which starts after they arrived (so its
    answer is as fresh as a call of their own), and the one in flight is never shared with a
    caller that arrived after it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, _Flight[T]] = {}
        self._pending: dict[Hashable, _Flight[T]] = {}

    def run(self, key: Hashable, fn: Callable[[], T]) -> T:
        with self._lock:
            pending = self._pending.get(key)
            if pending is None:
                running = self._running.get(key)
                flight: _Flight[T] = _Flight()
                if running is None:
                    flight.started = True
                    self._running[key] = flight
                else:
                    self._pending[key] = flight  # we lead the next call, once this one is done
        if pending is not None:  # a call that starts after we arrived: share it
            return self._wait(pending)
        if running is not None:
            running.done.wait()
            with self._lock:
                del self._pending[key]
                flight.started = True
                self._running[key] = flight
        try:
            flight.result = fn()
        except BaseException as exc:
            flight.error = exc
        finally:
            with self._lock:
                if self._running.get(key) is flight:
                    del self._running[key]
            flight.done.set()
        return self._wait(flight)

    @staticmethod
    def _wait(flight: _Flight[T]) -> T:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.result  # type: ignore[return-value]


class DocumentProbe:
    """Reads one document's version and masked fields with a unary ``GetDocument``, or several
    documents' in one ``BatchGetDocuments``."""

    def __init__(self, settings: Settings, guard: Guard | None = None) -> None:
        self.settings = settings
        self._guard = guard or Guard("Firestore", settings)
        self._database = f"projects/{settings.project}/databases/(default)"
        self._metadata: list[tuple[str, str]] = [("google-cloud-resource-prefix", self._database)]
        self._call: Callable[..., Any] | None = None
        self._batch_call: Callable[..., Any] | None = None
        self._lock = threading.Lock()
        self._coalescer: Coalescer[Probe | None] = Coalescer()
        self._batch_coalescer: Coalescer[list[Probe | None]] = Coalescer()

    def _connect(self) -> None:
        with self._lock:
            if self._call is not None:
                return
            import grpc
            import grpc.experimental
            from google.cloud.firestore_v1.services.firestore.transports import FirestoreGrpcTransport
            from google.cloud.firestore_v1.types import (
                BatchGetDocumentsRequest,
                BatchGetDocumentsResponse,
                Document,
                GetDocumentRequest,
            )

            from bale.store.deadlines import RECONNECT

            # Streams read on the caller's thread: see the module's docstring.
            options = [*RECONNECT, (grpc.experimental.ChannelOptions.SingleThreadedUnaryStream, 1)]
            host = self.settings.firestore_emulator_host
            if host:
                channel = grpc.insecure_channel(host, options=options)
                # The emulator serves an unauthenticated caller under the security rules;
                # "owner" is the administrator the server libraries act as.
                self._metadata.append(("authorization", "Bearer owner"))
            else:
                channel = FirestoreGrpcTransport.create_channel(FIRESTORE_HOST, options=options)
            self._batch_call = channel.unary_stream(
                BATCH_METHOD,
                request_serializer=BatchGetDocumentsRequest.pb().SerializeToString,
                response_deserializer=BatchGetDocumentsResponse.pb().FromString,
            )
            self._call = channel.unary_unary(
                METHOD,
                request_serializer=GetDocumentRequest.pb().SerializeToString,
                response_deserializer=Document.pb().FromString,
            )

    def _stub(self) -> Callable[..., Any]:
        if self._call is None:
            self._connect()
        assert self._call is not None
        return self._call

    def _batch_stub(self) -> Callable[..., Any]:
        if self._batch_call is None:
            self._connect()
        assert self._batch_call is not None
        return self._batch_call

    def get(self, path: str, fields: Sequence[str]) -> Probe | None:
        """``path``'s update time and ``fields``; None when the document does not exist.
        Callers asking for the same document at once share one read that began after the
        last of them arrived."""
        return self._coalescer.run((path, tuple(fields)), lambda: self._guarded(path, fields))

    def _guarded(self, path: str, fields: Sequence[str]) -> Probe | None:
        with self._guard.call():
            return self._get(path, fields)

    def _get(self, path: str, fields: Sequence[str]) -> Probe | None:
        from google.api_core.gapic_v1 import routing_header
        from google.cloud.firestore_v1.types import DocumentMask, GetDocumentRequest

        name = f"{self._database}/documents/{path}"
        request = GetDocumentRequest.pb()(name=name, mask=DocumentMask.pb()(field_paths=list(fields)))
        call = self._stub()  # first: against the emulator it adds the owner's credentials
        # The routing header the generated client sends with this method (Firestore routes a
        # request to its database by it).
        route = routing_header.to_grpc_metadata((("name", name),))  # type: ignore[no-untyped-call]
        metadata = [*self._metadata, route]

        def attempt(timeout: float) -> Probe:
            doc = call(request, metadata=metadata, timeout=timeout)
            return Probe((doc.update_time.seconds, doc.update_time.nanos), doc.fields)

        return self._retrying(attempt)

    def get_many(self, paths: Sequence[str], fields: Sequence[str]) -> list[Probe | None]:
        """Each of ``paths``' update time and ``fields`` (None for a missing document), in
        order, from one ``BatchGetDocuments``: one round trip whatever their number. Callers
        asking for the same documents at once share one read, as for :meth:`get`."""
        key = (tuple(paths), tuple(fields))
        return self._batch_coalescer.run(key, lambda: self._guarded_many(paths, fields))

    def _guarded_many(self, paths: Sequence[str], fields: Sequence[str]) -> list[Probe | None]:
        with self._guard.call():
            return self._get_many(paths, fields)

    def _get_many(self, paths: Sequence[str], fields: Sequence[str]) -> list[Probe | None]:
        from google.api_core.gapic_v1 import routing_header
        from google.cloud.firestore_v1.types import BatchGetDocumentsRequest, DocumentMask

        names = [f"{self._database}/documents/{p}" for p in paths]
        request = BatchGetDocumentsRequest.pb()(
            database=self._database, documents=names, mask=DocumentMask.pb()(field_paths=list(fields))
        )
        call = self._batch_stub()
        route = routing_header.to_grpc_metadata((("database", self._database),))  # type: ignore[no-untyped-call]
        metadata = [*self._metadata, route]

        def attempt(timeout: float) -> list[Probe | None]:
            found: dict[str, Probe | None] = {}
            # Responses come in any order, one per document: found, or named as missing.
            for resp in call(request, metadata=metadata, timeout=timeout):
                if resp.HasField("found"):
                    doc = resp.found
                    found[doc.name] = Probe((doc.update_time.seconds, doc.update_time.nanos), doc.fields)
                elif resp.missing:
                    found[resp.missing] = None
            if len(found) != len(set(names)):  # pragma: no cover - the API answers for each
                raise RuntimeError(f"BatchGetDocuments answered for {len(found)} of {len(names)} documents")
            return [found[n] for n in names]

        out = self._retrying(attempt)
        if out is None:  # NOT_FOUND for the whole call: the database, not a document
            from google.api_core import exceptions

            raise exceptions.NotFound(f"No database {self._database}.")  # type: ignore[no-untyped-call]
        return out

    def _retrying(self, attempt: Callable[[float], T]) -> T | None:
        """``attempt(timeout)``, retried with backoff on transient failures within the read
        deadline; None for NOT_FOUND; other failures as google.api_core exceptions."""
        import grpc
        from google.api_core import exceptions

        deadline = time.monotonic() + self.settings.firestore_read_deadline
        delay = 0.05
        while True:
            left = deadline - time.monotonic()
            try:
                return attempt(max(left, 0.05))
            except grpc.RpcError as exc:
                code = exc.code() if callable(getattr(exc, "code", None)) else None
                if code == grpc.StatusCode.NOT_FOUND:
                    return None
                if code not in _transient() or time.monotonic() + delay >= deadline:
                    raise exceptions.from_grpc_error(exc) from None  # type: ignore[no-untyped-call]
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)


@functools.cache
def _transient() -> frozenset[Any]:
    """The gRPC codes worth another attempt."""
    import grpc

    s = grpc.StatusCode
    return frozenset({s.UNAVAILABLE, s.DEADLINE_EXCEEDED, s.INTERNAL, s.RESOURCE_EXHAUSTED, s.ABORTED})
