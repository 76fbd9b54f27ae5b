"""A deadline on every Firestore call, retries only on transient codes and only within it.

The Firestore client's defaults are far too long for a request: 60 s for a commit and 300 s
for ``BatchGetDocuments`` and ``RunQuery``, retries included. During an outage that held every
thread of an instance for minutes (issue 22). Its document and batch methods take ``retry=``
and ``timeout=``, but transactions do not (``BeginTransaction``, ``Commit`` and ``Rollback``
of ``@transactional`` always use the defaults), and one call site without them would keep the
old wait. So the defaults themselves are replaced, once, when :class:`bale.store.backends.Stores`
makes the client: each RPC method of the client's transport gets a deadline for its kind
(:data:`READS`: ``firestore_read_deadline``, every other method: ``firestore_write_deadline``),
which bounds the whole call, retries included (api_core's ``TimeToDeadlineTimeout`` gives each
attempt what is left), a retry on transient codes only, and the backend's :class:`Guard`.
A call site may still pass its own ``retry``/``timeout``.

The defaults live in the transport's ``_wrapped_methods`` (google-cloud-firestore 2.x, the
table every generated method reads its defaults from); :func:`bound` refuses to start if that
table is not what it expects, and ``tests/functions/test_faults.py`` checks the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from bale.settings import Settings
from bale.store.guard import Guard

if TYPE_CHECKING:
    from google.api_core.retry import Retry
    from google.cloud import firestore

#: Lookups by key: what a request's reads are.
READS: Final = ("get_document", "batch_get_documents")
#: Everything else the client calls: commits, transactions, queries (which may scan).
WRITES: Final = (
    "commit",
    "begin_transaction",
    "rollback",
    "batch_write",
    "create_document",
    "update_document",
    "delete_document",
    "run_query",
    "run_aggregation_query",
    "list_documents",
    "list_collection_ids",
    "partition_query",
)


#: gRPC channel arguments: after a lost connection, try again within two seconds, always.
#: gRPC's default backoff grows to 120 s, so a Firestore that came back after a minute's outage
#: would stay unreachable from this instance for up to two more. (The minimum is also how
#: long one connection attempt may take: a second leaves a slow handshake time to finish.)
RECONNECT: Final = (
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.min_reconnect_backoff_ms", 1000),
    ("grpc.max_reconnect_backoff_ms", 2000),
)


def client(project: str) -> firestore.Client:
    """A Firestore client whose gRPC channel reconnects quickly (:data:`RECONNECT`)."""
    from google.cloud import firestore
    from google.cloud.firestore_v1 import base_client
    from google.cloud.firestore_v1.services.firestore import client as gapic
    from google.cloud.firestore_v1.services.firestore.transports.grpc import FirestoreGrpcTransport

    class Transport(FirestoreGrpcTransport):
        @classmethod
        def create_channel(  # type: ignore[override]
            cls, host: str = "firestore.googleapis.com", credentials: Any = None, **kwargs: Any
        ) -> Any:
            kwargs["options"] = [*kwargs.get("options", ()), *RECONNECT]
            return super().create_channel(host, credentials, **kwargs)

    class Client(firestore.Client):
        # The library's own property and channel, with Transport and the options above.
        @property
        def _firestore_api(self) -> Any:
            return self._firestore_api_helper(Transport, gapic.FirestoreClient, gapic)

        def _emulator_channel(self, transport: Any) -> Any:
            import grpc

            options = [("Authorization", "Bearer owner"), *base_client._GRPC_MSG_SIZE_OPTIONS, *RECONNECT]
            return grpc.insecure_channel(self._emulator_host, options=options)

    return Client(project=project)


def transient_retry(deadline: float) -> Retry:
    """Retry on the codes that say "try again" (not on a refusal), for ``deadline`` seconds."""
    from google.api_core import exceptions, retry

    return retry.Retry(
        initial=0.05,
        maximum=1.0,
        multiplier=2.0,
        predicate=retry.if_exception_type(
            exceptions.ServiceUnavailable,
            exceptions.DeadlineExceeded,
            exceptions.InternalServerError,
            exceptions.ResourceExhausted,
        ),
        timeout=deadline,
    )


class _Guarded:
    """A transport method with its deadline, retry and guard (the generated client calls it
    as ``rpc(request, retry=..., timeout=..., metadata=...)``)."""

    def __init__(self, wrapped: Any, guard: Guard) -> None:
        self._wrapped = wrapped
        self._guard = guard

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self._guard.call():
            return self._wrapped(*args, **kwargs)


def bound(client: firestore.Client, settings: Settings, guard: Guard) -> None:
    """Give every RPC method of ``client`` its deadline, a transient-only retry and ``guard``."""
    # The GAPIC client and its channel are made on first use; making them here opens no
    # connection (gRPC connects on the first call).
    transport = client._firestore_api._transport
    table = transport._wrapped_methods
    for name in (*READS, *WRITES):
        stub = getattr(transport, name)
        wrapped = table.get(stub)
        if isinstance(wrapped, _Guarded):
            continue
        if wrapped is None or not hasattr(wrapped, "_retry") or not hasattr(wrapped, "_timeout"):
            raise RuntimeError(
                f"google-cloud-firestore's transport has no default for {name}: Bale cannot set "
                "its deadlines (see bale.store.deadlines)."
            )
        deadline = settings.firestore_read_deadline if name in READS else settings.firestore_write_deadline
        wrapped._retry = transient_retry(deadline)
        wrapped._timeout = deadline
        table[stub] = _Guarded(wrapped, guard)
