"""A second S3 server in its own process on loopback (moto, its own state), for tests.

Nothing pytest-specific in here. `python -m tests.support.s3server PORT [--no-versions]` serves
it; ``--no-versions`` answers ListObjectVersions and reads of a given VersionId with 501
NotImplemented, as `rclone serve s3` does.
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
from urllib.parse import parse_qs

import boto3
from botocore.config import Config

from tests.support.endpoint import CREDENTIALS, free_port

ROOT = Path(__file__).resolve().parents[2]
NOT_IMPLEMENTED = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NotImplemented</Code>'
                   b"<Message>NotImplemented</Message></Error>")


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

    def __init__(self, *, versions: bool = True) -> None:
        self.port = free_port()
        self.versions = versions
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> S3ServerProcess:
        args = [] if self.versions else ["--no-versions"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.s3server", str(self.port), *args],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
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

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            config=Config(retries={"max_attempts": 2},
                                          s3={"addressing_style": "path"}), **CREDENTIALS)


WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def without_versions(app: WsgiApp) -> WsgiApp:
    """The S3 app, minus object versions (501 NotImplemented where they are asked for)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if "versions" in query or "versionId" in query or "versioning" in query:
            start_response("501 Not Implemented", [("Content-Type", "application/xml"),
                                                   ("Content-Length", str(len(NOT_IMPLEMENTED)))])
            return [NOT_IMPLEMENTED]
        return app(environ, start_response)

    return wrapped


def main(argv: list[str]) -> None:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app: WsgiApp = DomainDispatcherApplication(create_backend_app)
    if "--no-versions" in argv:
        app = without_versions(app)
    make_server("127.0.0.1", int(argv[0]), app, threaded=True,  # type: ignore[arg-type]
                request_handler=MotoRequestHandler).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
