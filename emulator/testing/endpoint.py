"""`Endpoint`: a smemu endpoint for tests, started here (a child process or in this process) or
one that already runs, reached by its URL."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from emulator import contract
from emulator.auth.keys import AUTH_ENV, DUMMY_KEYS, AuthKeys, parse_auth, resolve_keys
from emulator.auth.signing import signed_request
from emulator.errors import EmulatorError
from emulator.faults.plan import format_duration
from emulator.server.daemon import health
from emulator.storage.s3 import S3Endpoint
from emulator.testing.process import ServeProcess
from emulator.testing.readiness import EndpointStartError

if TYPE_CHECKING:
    from emulator.server.endpoint import EndpointServer


class Endpoint:
    """A smemu endpoint: `with Endpoint() as endpoint:` starts `smemu serve` on a free port and
    stops it (and every job on it) at the end.

    - ``in_process=True`` runs the server in this process instead (threads; faster to start,
      and it shares this process's fate). It never touches ``os.environ``.
    - ``state_dir``: where the endpoint keeps its log, job history, embedded S3 objects and
      work directories; a temporary directory (removed on stop) when not given.
    - ``ephemeral``: the endpoint keeps its job history, embedded S3 objects and work
      directories in a temporary directory of its own (`smemu serve --ephemeral`), even with a
      ``state_dir``.
    - ``grace_period``: the default SIGTERM -> SIGKILL window in seconds (smemu's default is
      120 s; tests usually want less).
    - ``s3_endpoint_url``: keep checkpoints and artifacts on that S3 instead of the embedded one.
    - ``allow_paths``: host directories requests may name (file:// channels, the
      ``smemu:code-dir`` tag), as `smemu serve --allow-path`; none by default.
    - ``serve_args``: more `smemu serve` flags (child process only).
    - ``auth``: the endpoint checks SigV4 signatures against these keys (an `AuthKeys` or
      "ACCESS_KEY:SECRET"; default: $SMEMU_AUTH / $SMEMU_AUTH_FILE, else no check), and
      every client here signs with them.
    - ``Endpoint.connect(url)`` uses an endpoint someone else runs: start and stop leave it be.

    Start-up failures raise `EndpointStartError` with the endpoint's log; `stop()` is
    idempotent, and a failed start cleans up what it started.
    """

    def __init__(self, *, in_process: bool = False,
                 state_dir: str | os.PathLike[str] | None = None, port: int = 0,
                 grace_period: float | None = None, s3_endpoint_url: str | None = None,
                 serve_args: Sequence[str] = (), start_timeout: float = 60.0,
                 region: str = contract.DEFAULT_REGION, ephemeral: bool = False,
                 allow_paths: Sequence[str | os.PathLike[str]] = (),
                 auth: AuthKeys | str | None = None) -> None:
        if in_process and serve_args:
            raise ValueError("serve_args are `smemu serve` flags: they need in_process=False")
        self.in_process = in_process
        self.requested_state_dir = Path(state_dir) if state_dir is not None else None
        self.requested_port = port
        self.grace_period = grace_period
        self.s3_endpoint_url = s3_endpoint_url
        self.serve_args = tuple(serve_args)
        self.start_timeout = start_timeout
        self.region = region
        self.ephemeral = ephemeral
        self.allow_paths = tuple(os.path.abspath(p) for p in allow_paths)
        self.keys: AuthKeys | None = parse_auth(auth, "auth") if isinstance(auth, str) else \
            auth if auth is not None else resolve_keys()
        self.process: ServeProcess | None = None
        self.server: EndpointServer | None = None
        self._state_dir: Path | None = None
        self._owns_state_dir = False
        self._url: str | None = None
        self.server_id = ""  # what its containers, networks and work dirs are labelled with
        self._external = False

    @classmethod
    def connect(cls, url: str, *, region: str = contract.DEFAULT_REGION,
                auth: AuthKeys | str | None = None) -> Endpoint:
        """An endpoint that already runs at ``url`` (e.g. `smemu up`): raises
        `EndpointStartError` when none answers there. ``auth``: the keys to sign with."""
        endpoint = cls(region=region, auth=auth)
        endpoint._external = True
        endpoint._url = url.rstrip("/")
        doc = health(endpoint._url)
        if doc is None:
            raise EndpointStartError(f"no smemu endpoint answers at {endpoint._url}")
        endpoint.server_id = str(doc.get("server_id", ""))
        return endpoint

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> Endpoint:
        if self._url is not None:
            return self
        try:
            self._state_dir = self.requested_state_dir or Path(
                tempfile.mkdtemp(prefix="smemu-test-"))
            self._owns_state_dir = self.requested_state_dir is None
            if self.in_process:
                self._start_in_process(self._state_dir)
            else:
                self._start_process(self._state_dir)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_process(self, state_dir: Path) -> None:
        args = list(self.serve_args)
        if self.grace_period is not None:
            args += ["--grace-period", format_duration(self.grace_period)]
        if self.s3_endpoint_url:
            args += ["--s3-endpoint-url", self.s3_endpoint_url]
        if self.ephemeral:
            args.append("--ephemeral")
        for path in self.allow_paths:
            args += ["--allow-path", path]
        env = dict(os.environ)
        if self.keys is not None:  # in the environment, not on its command line
            env[AUTH_ENV] = self.keys.as_text()
        self.process = ServeProcess(state_dir, args, port=self.requested_port,
                                    start_timeout=self.start_timeout, env=env)
        self.process.start()
        self._url, self.server_id = self.process.url, self.process.server_id

    def _start_in_process(self, state_dir: Path) -> None:
        from emulator.jobs.settings import JobSettings
        from emulator.server.endpoint import EndpointServer

        defaults = JobSettings() if self.grace_period is None else \
            JobSettings(grace_period=self.grace_period)
        self.server = EndpointServer(port=self.requested_port, state_dir=state_dir,
                                     s3_url=self.s3_endpoint_url, defaults=defaults,
                                     region=self.region, ephemeral=self.ephemeral,
                                     allow_paths=self.allow_paths,
                                     auth=self.keys)
        try:
            self.server.start()  # it cleans up after itself when it fails
        except Exception as err:
            raise EndpointStartError(f"the in-process endpoint did not start: {err}") from err
        self._url, self.server_id = self.server.url, self.server.server_id

    def stop(self) -> None:
        """Stop the endpoint and every job on it, remove what they created. Idempotent; an
        endpoint reached with `connect` is left running."""
        if self._external:
            return
        try:
            if self.process is not None:
                self.process.stop()
            if self.server is not None:
                self.server.stop()
        finally:
            if self._owns_state_dir and self._state_dir is not None:
                shutil.rmtree(self._state_dir, ignore_errors=True)
                self._owns_state_dir = False

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- where it is --------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the endpoint is not started: use `with Endpoint() as ...`")
        return self._url

    @property
    def state_dir(self) -> Path | None:
        return self._state_dir

    def log_text(self) -> str:
        """The child process's output so far ("" in process or when connected)."""
        return self.process.log_text() if self.process is not None else ""

    def health(self) -> dict[str, Any]:
        doc = health(self.url)
        if doc is None:
            raise EndpointStartError(f"the endpoint at {self.url} does not answer",
                                     self.log_text())
        return doc

    def s3_url(self) -> str:
        """Where jobs keep checkpoints and artifacts: the embedded S3 (the endpoint's own
        URL) or the server given as ``s3_endpoint_url``."""
        return str(self.health().get("s3_endpoint_url") or self.url)

    # -- clients and the emulator's own operations ------------------------------------
    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client of the endpoint ("sagemaker", "s3", "logs", "sts", ...)."""
        return S3Endpoint.of_endpoint(self.url, self.region, self.client_keys).client(
            service, **config)

    def s3_client(self, **config: Any) -> Any:
        """An S3 client of the S3 where the jobs' checkpoints and artifacts are."""
        s3_url = self.s3_url()
        endpoint = S3Endpoint.of_endpoint(s3_url, self.region, self.client_keys) \
            if s3_url == self.url else S3Endpoint(s3_url, self.region)
        return endpoint.client("s3", **config)

    @property
    def client_keys(self) -> AuthKeys:
        """What this side signs with: the endpoint's keys, else smemu's dummy ones."""
        return self.keys or DUMMY_KEYS

    def report(self, job_name: str) -> dict[str, Any]:
        """The emulator's report of one job (GET /_smemu/jobs/NAME): settings and attempts."""
        return self._call("GET", f"jobs/{job_name}")

    def interrupt(self, job_name: str) -> None:
        """A spot interruption now (the job must be Training)."""
        self._call("POST", f"jobs/{job_name}/interrupt")

    def reset(self) -> dict[str, list[str]]:
        """Forget every finished job and remove its work directory (POST /_smemu/reset);
        running jobs go on. Returns {"Removed": [...], "Running": [...]}."""
        return self._call("POST", "reset")

    def _call(self, method: str, route: str) -> dict[str, Any]:
        request = signed_request(f"{self.url}/_smemu/{route}", method=method,
                                 keys=self.client_keys, region=self.region)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as err:
            body = json.loads(err.read() or b"{}")
            raise EndpointRequestError(str(body.get("__type", err.code)),
                                       str(body.get("message", err.reason))) from None


class EndpointRequestError(EmulatorError):
    """An emulator operation the endpoint refused; `code` is its error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
