"""The disk S3 (emulator.storage.disk_s3) on its own loopback port over a directory, in this
process, for tests (nothing pytest-specific in here)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from werkzeug.serving import BaseWSGIServer, make_server

from emulator.storage.disk_s3.app import DiskS3App


class DiskS3Server:
    """Context manager: `with DiskS3Server(root) as s3:` then `s3.url`; a second one over the
    same root sees what the first one stored (a restart)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.app: DiskS3App | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> DiskS3Server:
        self.app = DiskS3App(self.root)
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.app is not None:
            self.app.close()

    def client(self, **config: Any) -> Any:
        """A plain boto3 client as a user has it (default checksums: aws-chunked uploads)."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(**{"s3": {"addressing_style": "path"},
                             "retries": {"max_attempts": 1}, **config}))
