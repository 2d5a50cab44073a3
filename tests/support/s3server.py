"""A second S3 server in its own process on loopback (moto, its own state), for tests.

Nothing pytest-specific in here. `python -m tests.support.s3server PORT [--port-file FILE]`
serves it (with object versions, which `rclone serve s3`, tests/support/s3_standin.py, lacks:
the tests of versioned checkpoints need them). PORT 0 takes a free port and
``--port-file`` says which: the server binds it itself, so no other process (another xdist
worker's server) can take it between the choice and the bind.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.support.endpoint import CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s; waits for the end either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class S3ServerProcess:
    """Context manager: `with S3ServerProcess() as s3:` then `s3.url`, `s3.client()`."""

    def __init__(self) -> None:
        self.port = 0  # known once started: the server picks it
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)
        self._dir = tempfile.TemporaryDirectory(prefix="smemu-s3server-")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> S3ServerProcess:
        port_file = Path(self._dir.name) / "port"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3server", "0", "--port-file", str(port_file)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not self.port:
                if port_file.exists():
                    self.port = int(port_file.read_text())
                elif self.process.poll() is not None:
                    break
                else:
                    time.sleep(0.1)
                    continue
            try:
                with urllib.request.urlopen(self.url, timeout=1):
                    return self
            except urllib.error.HTTPError:  # any answer: it is up
                return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")
        self.__exit__()
        raise RuntimeError(f"S3 server did not start:\n{log}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            stop_process(self.process)
        self._log.close()
        self._dir.cleanup()

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 2},
                                          s3={"addressing_style": "path"}), **CREDENTIALS)


WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def main(argv: list[str]) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    server = make_server("127.0.0.1", int(argv[0]), app, threaded=True,  # type: ignore[arg-type]
                         request_handler=MotoRequestHandler)
    if "--port-file" in argv:  # bound and listening: tell the port, whole or not at all
        path = Path(argv[argv.index("--port-file") + 1])
        path.with_suffix(".tmp").write_text(str(server.server_port))
        path.with_suffix(".tmp").rename(path)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
