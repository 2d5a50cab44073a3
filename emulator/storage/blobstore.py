"""The one seam between the checkpoint engine and S3: a blob store.

The mirror, the restore and the benchmark speak to S3 only through a ``BlobStore``. Which
implementation, and which transfer strategy, is decided once per endpoint from its
configuration (``S3Endpoint.blob_store``), never by looking at a client or a server's answers.
One implementation over the wire is left, boto3's (``boto_store``): the A/B in
bench/results.md found no hand-written transport faster by more than the run-to-run spread. The
endpoint's jobs read its embedded disk S3 in its own process (``disk_blobstore``), writing
through boto3's.

Nothing here retries: the caller has the one retry layer (``emulator.checkpoints.retry``), and
the implementation is built without transport retries of its own. Errors are botocore
``ClientError``s carrying S3's error code, which that layer classifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from boto3.s3.transfer import TransferConfig


@dataclass(frozen=True)
class StoredObject:
    """One object of a listing."""

    key: str
    size: int
    etag: str = ""


class Readable(Protocol):
    def read(self, amount: int = -1, /) -> bytes: ...


Sink = Callable[[bytes], None]
"""Takes the pieces of a body as they arrive."""


class Transfers(Protocol):
    """One transfer manager (multipart uploads, parts read from disk as they are sent), shared
    by every upload of one mirror: open it once, close it when the mirror stops."""

    def upload_file(self, path: str, bucket: str, key: str) -> bool:
        """Upload the file at ``path`` in parts; True if it shrank meanwhile (the object then
        holds zero padding: upload it again)."""

    def close(self) -> None: ...


class BlobStore(Protocol):
    """Single-request S3 operations on one endpoint, path-style."""

    @property
    def whole_object(self) -> bool:
        """True when the server holds every object whole (the embedded moto): a ranged GET or a
        multipart upload then costs it the whole object again, so one streamed request per
        object is cheapest. Set from configuration, not detected."""

    def list_objects(self, bucket: str, prefix: str) -> list[StoredObject]:
        """Every object under ``prefix``, across pages."""

    def put_bytes(self, bucket: str, key: str, data: bytes, sha256_hex: str) -> str:
        """PutObject of ``data`` (whose SHA-256 the caller computed already); its ETag."""

    def put_stream(self, bucket: str, key: str, body: Readable, length: int) -> str:
        """PutObject of ``length`` bytes read from ``body`` while they are sent, one request;
        the body cannot be replayed (the caller starts over on failure). Its ETag."""

    def get_stream(self, bucket: str, key: str, sink: Sink) -> None:
        """GetObject, each piece of the body handed to ``sink`` as it arrives; a body that ends
        early raises."""

    def get_range(self, bucket: str, key: str, start: int,
                  length: int) -> tuple[bytes | bytearray, str]:
        """Exactly ``length`` bytes from ``start`` (else this raises) and the object's ETag."""

    def delete(self, bucket: str, key: str) -> None: ...

    def transfers(self, config: TransferConfig) -> Transfers:
        """A transfer manager for multipart uploads with ``config``'s part size and
        concurrency (the caller closes it)."""
