"""`SmemuContainer`: the smemu endpoint in a container, for testcontainers users.

    from emulator.testing import SmemuContainer, run_job

    with SmemuContainer() as smemu:
        sagemaker = smemu.get_client("sagemaker")
        result = run_job(smemu.get_url(), "my-trainer:latest", interrupt=["checkpoint=1"])

In the shape of testcontainers' own ``LocalStackContainer``: a ``DockerContainer`` that runs
the emulator's image (``smemu-emulator:latest``, built by `make images`), waits until the
endpoint answers, and hands out its URL and boto3 clients. Needs the ``testcontainers``
package (``pip install 'smemu[testcontainers]'``); nothing else in `emulator.testing` does.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer

from emulator import contract
from emulator.auth.keys import AUTH_ENV, AuthKeys, parse_auth
from emulator.faults.plan import format_duration
from emulator.server.daemon import health
from emulator.storage.s3 import S3Endpoint
from emulator.testing.readiness import EndpointStartError, wait_until

DEFAULT_IMAGE = "smemu-emulator:latest"
CONTAINER_PORT = 4590  # the image's $SMEMU_PORT


class SmemuContainer(DockerContainer):
    """The smemu endpoint as a throwaway container: ``with SmemuContainer() as smemu:``.

    The endpoint drives the host's Docker engine (the socket is mounted) to run the training
    containers, so the paths it hands that engine must mean the same on the host: its state
    and temporary directories live in ``host_dir``, mounted at its own path (a new temporary
    directory, removed at stop, when not given). It runs in the host's pid namespace, so the
    owner labels of what it creates are right for `smemu cleanup` on the host. Its port is
    published on 127.0.0.1 only, on a free port.

    - ``grace_period``: the default SIGTERM -> SIGKILL window in seconds (smemu's is 120 s).
    - ``serve_args``: more `smemu serve` flags, e.g. ``["--s3-backend", "disk"]``.
    - ``start_timeout``: how long to wait for ``/_smemu/health``; when it runs out (or the
      container exits), `EndpointStartError` carries the container's logs, and the container
      and its directory are removed.
    - ``stop_timeout``: how long `stop()` lets the endpoint stop its jobs and remove their
      containers (SIGTERM) before the container is killed.
    - ``auth``: the endpoint checks SigV4 signatures against these keys (an `AuthKeys` or
      "ACCESS_KEY:SECRET", given to it as $SMEMU_AUTH), and `get_client` signs with them.
    """

    def __init__(self, image: str = DEFAULT_IMAGE, *, region: str = contract.DEFAULT_REGION,
                 host_dir: str | Path | None = None, grace_period: float | None = None,
                 serve_args: Sequence[str] = (), start_timeout: float = 60.0,
                 stop_timeout: float = 60.0, auth: AuthKeys | str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.region = region
        self.keys = parse_auth(auth, "auth") if isinstance(auth, str) else auth
        self.requested_host_dir = Path(host_dir) if host_dir is not None else None
        self.host_dir: Path | None = None
        self._owns_host_dir = False
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        command = list(serve_args)
        if grace_period is not None:
            command += ["--grace-period", format_duration(grace_period)]
        self.with_command(command)
        self.server_id = ""

    # -- lifecycle ------------------------------------------------------------------
    def _configure(self) -> None:
        """Called by ``DockerContainer.start`` before it creates the container."""
        if self.requested_host_dir is not None:
            self.host_dir = self.requested_host_dir.resolve()
            self.host_dir.mkdir(parents=True, exist_ok=True)
        else:  # short: the S3 gateway's unix socket lives under it (~108 bytes at most)
            self.host_dir = Path(tempfile.mkdtemp(prefix="smemu-container-"))
            self._owns_host_dir = True
        shared = str(self.host_dir)
        self.with_volume_mapping(shared, shared, "rw")
        socket = testcontainers_config.ryuk_docker_socket or "/var/run/docker.sock"
        self.with_volume_mapping(socket, "/var/run/docker.sock", "rw")
        self.with_envs(SMEMU_HOST="0.0.0.0", SMEMU_PORT=str(CONTAINER_PORT),
                       SMEMU_STATE_DIR=f"{shared}/state", TMPDIR=f"{shared}/tmp")
        if self.keys is not None:
            self.with_env(AUTH_ENV, self.keys.as_text())
        # 127.0.0.1 only, a free port (docker-py's (host_ip,) binding; the attribute is typed
        # for ports alone).
        cast(dict[str, Any], self.ports)[f"{CONTAINER_PORT}/tcp"] = ("127.0.0.1",)
        self._kwargs = {"pid_mode": "host", **self._kwargs}

    def start(self) -> SmemuContainer:
        """Start the container and wait until the endpoint answers; a failed start removes
        what it created and raises (`EndpointStartError` with the logs, when it timed out)."""
        try:
            super().start()
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        container = self.get_wrapped_container()

        def exited() -> bool:
            container.reload()
            return container.status in ("exited", "dead")

        url = self.get_url()
        doc = wait_until(lambda: health(url, timeout=1.0), timeout=self.start_timeout,
                         interval=0.3, dead=exited)
        if doc is None:
            why = "exited before it answered" if exited() else \
                f"did not answer in {self.start_timeout:.0f}s"
            raise EndpointStartError(f"the smemu container ({self.image}) {why} at "
                                     f"{url}/_smemu/health", self.logs())
        self.server_id = str(doc.get("server_id", ""))

    def stop(self, force: bool = True, delete_volume: bool = True) -> None:
        """SIGTERM first (the endpoint stops its jobs and removes their containers and
        networks), then remove the container and its directory. Idempotent."""
        if self._container is None:
            self._remove_host_dir()
            return
        try:
            try:
                self._container.stop(timeout=int(self.stop_timeout))
            finally:
                self._remove_host_dir()  # the endpoint is gone: nothing writes there any more
        finally:
            super().stop(force=force, delete_volume=delete_volume)
            self._container = None

    def _remove_host_dir(self) -> None:
        if not self._owns_host_dir or self.host_dir is None:
            return
        shutil.rmtree(self.host_dir, ignore_errors=True)
        if self.host_dir.exists():  # root-owned files (the endpoint runs as root in there)
            self.get_docker_client().client.containers.run(
                self.image, entrypoint=["find"], remove=True, network_mode="none",
                command=[str(self.host_dir), "-mindepth", "1", "-delete"],
                volumes={str(self.host_dir): {"bind": str(self.host_dir), "mode": "rw"}})
            shutil.rmtree(self.host_dir, ignore_errors=True)
        self._owns_host_dir = False

    # -- where it is ----------------------------------------------------------------
    def get_url(self) -> str:
        """The endpoint's URL on this machine (SageMaker, S3, CloudWatch Logs, STS)."""
        # Published on 127.0.0.1 only: the Docker engine is on this machine (the shared paths
        # need it to be), whatever testcontainers guesses from /.dockerenv; TC_HOST wins.
        host = testcontainers_config.tc_host_override or "127.0.0.1"
        return f"http://{host}:{self.get_exposed_port(CONTAINER_PORT)}"

    def get_client(self, service: str, **config: Any) -> Any:
        """A boto3 client of the endpoint ("sagemaker", "s3", "logs", "sts", ...); ``config``
        goes to botocore's Config."""
        return S3Endpoint.of_endpoint(self.get_url(), self.region, self.keys).client(
            service, **config)

    def logs(self) -> str:
        """The container's output so far (stdout and stderr)."""
        if self._container is None:
            return ""
        return bytes(self._container.logs()).decode(errors="replace")
