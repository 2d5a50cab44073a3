"""A throwaway S3 server as a testcontainers container: ``smemu-s3-standin`` (`rclone serve s3`
behind MinIO's command line, built by `make setup` from images/s3-standin), for tests.

Nothing pytest-specific in here. testcontainers' reaper (Ryuk) is switched off for these
containers: its image cannot be pulled here (no registry answers). Cleanup does not depend on
it: the context manager removes the container, also when the start fails. Docker names the
container and publishes its port on a free 127.0.0.1 port, so pytest-xdist workers never
collide.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import Any, cast

import boto3
from botocore.config import Config
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

STANDIN_IMAGE = "smemu-s3-standin:latest"
S3_PORT = 9000  # the image's MinIO-style `--address`
ACCESS_KEY, SECRET_KEY = "standin", "standinsecret"


def disable_ryuk() -> None:
    """No reaper: its image (testcontainers/ryuk) cannot be pulled here."""
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    testcontainers_config.ryuk_disabled = True


class S3StandinContainer(DockerContainer):
    """Context manager: `with S3StandinContainer() as s3:` then `s3.url`, `s3.client()`
    (buckets are directories inside the container, gone with it)."""

    def __init__(self, image: str = STANDIN_IMAGE, *, access_key: str = ACCESS_KEY,
                 secret_key: str = SECRET_KEY, start_timeout: float = 60.0) -> None:
        disable_ryuk()
        super().__init__(image)
        self.access_key, self.secret_key = access_key, secret_key
        self.start_timeout = start_timeout
        self.with_envs(MINIO_ROOT_USER=access_key, MINIO_ROOT_PASSWORD=secret_key)
        # 127.0.0.1 only, a free port (docker-py's (host_ip,) binding form).
        cast(dict[str, Any], self.ports)[f"{S3_PORT}/tcp"] = ("127.0.0.1",)
        self.with_kwargs(labels={"smemu.test": "s3-standin"})

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.get_exposed_port(S3_PORT)}"

    def start(self) -> S3StandinContainer:
        """Start and wait until S3 answers on the port; a failed start removes the container
        and raises with its logs."""
        try:
            super().start()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_answering(self) -> None:
        container = self.get_wrapped_container()
        deadline = time.monotonic() + self.start_timeout
        why = f"did not answer in {self.start_timeout:.0f}s"
        while time.monotonic() < deadline:
            container.reload()
            if container.status in ("exited", "dead"):  # before the port: it has none then
                why = "exited before it answered"
                break
            try:
                with urllib.request.urlopen(self.url, timeout=1):
                    return
            except urllib.error.HTTPError:  # any S3 answer (403 unsigned): it is up
                return
            except OSError:
                time.sleep(0.2)
        logs = bytes(container.logs()).decode(errors="replace")
        raise RuntimeError(f"the S3 stand-in ({self.image}) {why}:\n{logs}")

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """Remove the container; idempotent (a failed start has already removed it)."""
        if self._container is None:
            return
        try:
            super().stop(force=force, delete_volume=delete_volume)
        finally:
            self._container = None

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(retries={"max_attempts": 2},
                                          s3={"addressing_style": "path"}))
