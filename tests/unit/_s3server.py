"""An in-process moto S3 server over real HTTP for checkpoint tests (no pytest in here).

moto keeps its state in module globals, so stopping the server and starting a new one on the
same port simulates an S3 outage without losing the buckets.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from emulator.storage.blobstore import BlobStore
from emulator.storage.s3 import S3Endpoint


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoS3:
    def __init__(self) -> None:
        self.port = free_port()
        self._server: ThreadedMotoServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        inner = getattr(self._server, "_server", None)
        if inner is not None:  # release the listening socket so the port refuses connections
            inner.server_close()
        self._server = None

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """S3 refuses connections inside the block; the data is still there afterwards."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def client(self, *, max_attempts: int = 2) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                retries={"max_attempts": max_attempts, "mode": "standard"},
                connect_timeout=2,
                read_timeout=30,
                s3={"addressing_style": "path"},
            ),
        )

    def new_bucket(self, client: Any) -> str:
        name = f"ckpt-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=name)
        return name


def store_for(client: Any, *, whole_object: bool = True) -> BlobStore:
    """The checkpoint engine's blob store for the moto server ``client`` speaks to (moto holds
    whole objects, as the embedded S3 does), configured as an endpoint configures it."""
    return S3Endpoint(client.meta.endpoint_url, access_key="testing", secret_key="testing",
                      whole_object=whole_object).blob_store()
