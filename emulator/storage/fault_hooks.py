"""S3 faults on a boto3 client: every request it sends first asks a fault source what to do.

The one seam under all of a job's own S3 traffic (the checkpoint mirror, the restore, the
model and output uploads): the job gets a client of its own with these hooks, and a blob store
over it. A refused request never reaches the server; botocore parses the answer given here as
S3's (an XML error body with its code), so the callers' retry layers see what a struggling S3
would send. Storage knows nothing of specs: the source is anything with `decide` and
`body_delay` (``emulator.faults.s3_injector.S3FaultInjector``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from botocore.awsrequest import AWSResponse

from emulator.storage.blobstore import BlobStore
from emulator.storage.boto_store import BotoBlobStore
from emulator.storage.disk_s3.errors import S3Error
from emulator.storage.s3 import BLOB_CLIENT_CONFIG, S3Endpoint


class Fault(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def status(self) -> int: ...

    @property
    def message(self) -> str: ...


class Decision(Protocol):
    @property
    def delay(self) -> float: ...

    @property
    def error(self) -> Fault | None: ...


class FaultSource(Protocol):
    def decide(self, nbytes: int = 0) -> Decision: ...

    def body_delay(self, nbytes: int) -> float: ...

    def note_retry(self, waited: float) -> None: ...


class _Body:
    """The raw body botocore reads an answer from (``stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def error_response(url: str, fault: Fault) -> AWSResponse:
    """S3's error answer, as its REST API writes it."""
    body = S3Error(fault.code, fault.message, fault.status).body("smemu-s3-fault")
    headers = {"Content-Type": "application/xml", "Content-Length": str(len(body)),
               "x-amz-request-id": "smemu-s3-fault"}
    return AWSResponse(url, fault.status, headers, _Body(body))


def attach_faults(client: Any, source: FaultSource,
                  sleep: Callable[[float], None] = time.sleep) -> Any:
    """Make every request of `client` (one of its own: hooks stay with it) go through
    `source`; returns the client."""
    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        nbytes = int(request.headers.get("Content-Length") or 0)
        decision = source.decide(nbytes)
        if decision.delay > 0:
            sleep(decision.delay)
        return None if decision.error is None else error_response(request.url, decision.error)

    def after_download(http_response: Any = None, **_: Any) -> None:
        if http_response is not None and http_response.status_code < 300:
            delay = source.body_delay(int(http_response.headers.get("content-length") or 0))
            if delay > 0:
                sleep(delay)

    def received(context: Any = None, **_: Any) -> None:
        # botocore's own retries (the artifact client's): a request sent again.
        if isinstance(context, dict) and context.get("retries", {}).get("attempt", 1) > 1:
            source.note_retry(0.0)

    events = client.meta.events
    events.register("before-send.s3", before_send)
    events.register("after-call.s3.GetObject", after_download)
    events.register("response-received.s3", received)
    return client


class FaultyS3:
    """One job's own way to S3 with faults: a blob store (checkpoints) and a client (model and
    output uploads), each over a client of its own with the hooks. Close it at the job's end."""

    def __init__(self, endpoint: S3Endpoint, source: FaultSource) -> None:
        self._endpoint = endpoint
        self._source = source
        self._lock = threading.Lock()
        self._store: BotoBlobStore | None = None
        self._client: Any = None

    def blob_store(self) -> BlobStore:
        with self._lock:
            if self._store is None:
                client = self._endpoint.own_client("s3", **BLOB_CLIENT_CONFIG)
                self._store = BotoBlobStore(attach_faults(client, self._source),
                                            whole_object=self._endpoint.whole_object)
            return self._store

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                # botocore retries each part a few times; the caller's patience does the rest
                # (its eight attempts would back off for a minute on their own).
                client = self._endpoint.own_client(
                    "s3", retries={"max_attempts": 3, "mode": "standard"})
                self._client = attach_faults(client, self._source)
            return self._client

    def close(self) -> None:
        with self._lock:
            clients = [c for c in (self._client, self._store and self._store.client) if c]
            self._client = self._store = None
        for client in clients:
            client.close()
