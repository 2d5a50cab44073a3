"""The local endpoint: one threaded HTTP server on 127.0.0.1 serving SageMaker, S3, Logs and STS."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from emulator import contract
from emulator.api.app import EndpointApp
from emulator.api.auth_gate import AuthGate
from emulator.auth.keys import DUMMY_KEYS, AuthKeys
from emulator.errors import EndpointUnavailable
from emulator.jobs.context import RunnerContext
from emulator.jobs.host_paths import HostPaths
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import TrainingJob
from emulator.jobs.quota import instance_limit
from emulator.jobs.runner import runner_factory
from emulator.jobs.service import JobService
from emulator.jobs.settings import JobSettings
from emulator.jobs.sqlite_store import JobHistoryDb, SqliteJobStore, StoredJob
from emulator.runtime import labels as L
from emulator.runtime.engine import DockerEngine
from emulator.runtime.network_pool import Gateway, NetworkPool, gateway_name
from emulator.runtime.owners import write_owner
from emulator.server.gateway_origin import gateway_request_handler
from emulator.server.handler import (
    DEFAULT_REQUEST_TIMEOUT_S,
    request_handler,
)
from emulator.server.log_keeper import LogKeeper, replay_log_events
from emulator.server.recovery import CrashRecovery
from emulator.storage.backends import chosen_backend, s3_root
from emulator.storage.disk_blobstore import DiskBlobStore
from emulator.storage.disk_s3.app import DiskS3App
from emulator.storage.s3 import S3Endpoint

log = logging.getLogger(__name__)
class EndpointServer:
    """Context manager: `with EndpointServer(port=0, state_dir=d) as ep:` then use `ep.url`.

    The job history is kept in `history_path` (SQLite) and read back at start, the disk S3's
    objects in `s3_path`; with `ephemeral=True` everything (history, objects, work directories)
    lives in a temporary directory removed at stop, and `state_dir` is not used."""

    def __init__(self, host: str = "127.0.0.1", port: int = contract.DEFAULT_PORT, *,
                 state_dir: str | os.PathLike[str] | None = None, ephemeral: bool = False,
                 s3_url: str | None = None,
                 defaults: JobSettings | None = None,
                 region: str = contract.DEFAULT_REGION,
                 checkpoint_versioning: bool = True,
                 request_timeout: float | None = None,
                 s3_backend: str | None = None,
                 shutdown_budget: float = contract.DEFAULT_SHUTDOWN_BUDGET_S,
                 max_training_instances: int | None = None,
                 auth: AuthKeys | None = None,
                 allow_paths: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.host = host
        # With keys, every request but /_smemu/health must be SigV4-signed with them; smemu's
        # own clients and the training containers sign with them too.
        self.auth = auth
        self.requested_port = port
        if state_dir is None and not ephemeral:
            raise ValueError("EndpointServer needs a state_dir, or ephemeral=True")
        self.ephemeral = ephemeral
        self.state_dir: Path = Path(state_dir) if state_dir is not None else Path()
        self.history: JobHistoryDb | None = None
        self._temporary_state: Path | None = None  # ephemeral: removed at stop
        self.s3_url = s3_url
        self.defaults = defaults
        self.region = region
        self.checkpoint_versioning = checkpoint_versioning
        self.s3_backend = chosen_backend(s3_backend)
        self._disk_s3: DiskS3App | None = None
        self.server_id = uuid.uuid4().hex[:8]
        self.engine = DockerEngine()
        self.service: JobService | None = None
        self._server: BaseWSGIServer | None = None
        self._socket_server: BaseWSGIServer | None = None  # for the S3 gateway containers
        self._socket_dir: Path | None = None
        self._socket_thread: threading.Thread | None = None
        self._network_pool: NetworkPool | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        if not shutdown_budget >= 0:
            raise ValueError(f"shutdown_budget must be >= 0 seconds, not {shutdown_budget!r}")
        self.shutdown_budget = shutdown_budget  # the jobs' grace when the endpoint stops
        # None: $SMEMU_MAX_TRAINING_INSTANCES, else from this machine (jobs/quota.py)
        self.max_training_instances = max_training_instances
        self.request_timeout = request_timeout  # None: $SMEMU_REQUEST_TIMEOUT, else 60 s
        # The only host directories a request may name (file:// channels, smemu:code-dir).
        self.host_paths = HostPaths.of(allow_paths)

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """Where this process reaches itself: loopback when it listens on every address."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def workdir(self) -> Path:
        return self.state_dir / "work" / self.server_id

    @property
    def history_path(self) -> Path:
        """The endpoint on port N keeps its jobs in jobs-N.sqlite3; one on a free port
        (port 0: the Python API, test fixtures) in jobs.sqlite3."""
        port = self.requested_port
        return self.state_dir / (f"jobs-{port}.sqlite3" if port else "jobs.sqlite3")

    @property
    def s3_path(self) -> Path:
        """Where the disk S3 keeps its objects: s3-N beside jobs-N.sqlite3 (s3 for port 0)."""
        return s3_root(self.state_dir, self.requested_port)

    def start(self, background: bool = True) -> EndpointServer:
        try:
            if self.ephemeral:
                self._temporary_state = Path(tempfile.mkdtemp(prefix="smemu-state-"))
                self.state_dir = self._temporary_state
            self.engine.client  # fail now, with a clear message, if Docker is missing  # noqa: B018
            try:
                self._server = make_server(self.host, self.requested_port,
                                           app=None,  # type: ignore[arg-type]
                                           threaded=True,
                                           request_handler=request_handler(
                                               self._request_timeout()))
            except (OSError, SystemExit) as err:  # werkzeug exits (in a library) on bind errors
                why = getattr(err, "strerror", None) or "the address is in use or not available"
                raise EndpointUnavailable(
                    f"cannot listen on {self.host}:{self.requested_port}: {why}. "
                    "Is another smemu (or something else) using it? Try --port.") from err
            # moto holds whole objects: one request per object is cheapest there; on disk,
            # bodies stream, so ranges and parts are cheap.
            keys = self.auth or DUMMY_KEYS
            own = S3Endpoint(self.url, self.region, access_key=keys.access_key,
                             secret_key=keys.secret_key,
                             whole_object=self.s3_backend != "disk")
            ctx = RunnerContext(engine=self.engine, s3=S3Endpoint(self.s3_url, self.region)
                                if self.s3_url else own, logs=own, workdir=self.workdir,
                                server_id=self.server_id, region=self.region,
                                # Only the embedded S3 gets versioning switched on for it.
                                checkpoint_versioning=self.checkpoint_versioning
                                and not self.s3_url, host_paths=self.host_paths)
            self.workdir.mkdir(parents=True, exist_ok=True)
            write_owner(self.workdir)  # `smemu cleanup` leaves it be while this process lives
            # A short path: unix socket paths are limited to ~108 bytes.
            self._socket_dir = Path(tempfile.mkdtemp(prefix="smemu-"))
            socket_path = self._socket_dir / "endpoint.sock"
            # The same idle timeout: the one gateway outlives the jobs, and a connection of a
            # container that is gone would otherwise hold its thread for good.
            self._socket_server = make_server(f"unix://{socket_path}", 0,
                                              app=None,  # type: ignore[arg-type]
                                              threaded=True,
                                              request_handler=gateway_request_handler(
                                                  self._request_timeout()))
            self._network_pool = NetworkPool(self.engine, self.server_id, Gateway(
                gateway_name(self.server_id), ctx.gateway_image, socket_path,
                L.server_labels(self.server_id)))
            ctx = dataclasses.replace(ctx, gateway_socket=socket_path,
                                      network_pool=self._network_pool)
            recovery = CrashRecovery(self.engine, ctx.s3, self.state_dir / "work",
                                     create_buckets=not self.s3_url,
                                     versioning=ctx.checkpoint_versioning,
                                     helper_image=ctx.gateway_image)
            # Opened once the port is ours: no other endpoint uses this port's history.
            self.history = JobHistoryDb(self.history_path)
            if self.s3_backend == "disk":  # after the history: its lock makes s3_path ours
                self._disk_s3 = DiskS3App(self.s3_path, self.region)
                if not self.s3_url:  # the jobs' buckets are in it: ask it in this process
                    ctx = dataclasses.replace(
                        ctx, bucket_exists=self._disk_s3.store.has_bucket,
                        blob_store=DiskBlobStore(self._disk_s3.store, own.blob_store()))
            store = SqliteJobStore(self.history, self.server_id)
            self.service = JobService(ctx, runner_factory(ctx), defaults=self.defaults,
                                      store=store,
                                      max_instances=instance_limit(self.max_training_instances))
            stored = self.history.load()
            for each in stored:
                self.service.adopt(each.job, each.unfired)
            replay_log_events(self.history, self.region)
            app: Any = LogKeeper(EndpointApp(self.service, self.server_id,
                                             s3_endpoint_url=self.s3_url,
                                             s3_app=self._disk_s3, s3_backend=self.s3_backend,
                                             container_faults=ctx.container_s3_faults,
                                             auth=self.auth is not None), self.history)
            if self.auth is not None:
                app = AuthGate(app, self.auth)
            self._server.app = app
            self._socket_server.app = app
        except BaseException:
            self.stop()
            raise
        self._socket_thread = threading.Thread(target=self._socket_server.serve_forever,
                                               name="smemu-endpoint-socket", daemon=True)
        self._socket_thread.start()
        if background:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            name="smemu-endpoint", daemon=True)
            self._thread.start()
            self._recover(recovery, stored, store)  # the embedded S3 answers now
        else:
            threading.Thread(target=self._recover, args=(recovery, stored, store),
                             name="smemu-recovery", daemon=True).start()
        return self

    def _recover(self, recovery: CrashRecovery, stored: list[StoredJob],
                 store: SqliteJobStore) -> None:
        """Settle the jobs an earlier process of this history left unfinished."""
        try:
            recovery.remove_leftovers(stored, self.server_id)
        except Exception:  # Docker hiccup: the per-job cleanup below tries again
            log.exception("could not list what earlier endpoints left in Docker")
        for each in recovery.unfinished(stored):
            def save(job: TrainingJob, unfired: list[str] = each.unfired) -> None:
                store.save(job, unfired)
            try:
                recovery.recover(each, save)
            except Exception as err:  # it still must not stay InProgress forever
                log.exception("recovery of job %s failed", each.job.name)
                if each.job.status not in contract.TERMINAL_STATUSES:
                    JobLifecycle(each.job, recovery.clock, on_change=save).failed(
                        f"InternalServerError: the smemu endpoint running this job stopped "
                        f"unexpectedly, and its recovery failed: {type(err).__name__}: {err}")

    def _request_timeout(self) -> float:
        """How long a read from a client may wait: the argument, else $SMEMU_REQUEST_TIMEOUT."""
        if self.request_timeout is not None:
            return self.request_timeout
        text = os.environ.get("SMEMU_REQUEST_TIMEOUT", "")
        try:
            seconds = float(text) if text else DEFAULT_REQUEST_TIMEOUT_S
        except ValueError:
            seconds = 0.0
        if not seconds > 0:
            raise EndpointUnavailable(
                f"SMEMU_REQUEST_TIMEOUT={text!r} is not a number of seconds above 0")
        return seconds

    def serve_forever(self) -> None:
        assert self._server is not None
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop jobs, remove what they created, close the port. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        unfinished: list[str] = []
        if self.service is not None:  # the endpoint still serves S3: the uploads need it
            unfinished = self.service.shutdown(self.shutdown_budget)
        if self._network_pool is not None:  # none made ahead behind the clean-up's back
            with contextlib.suppress(Exception):
                self._network_pool.close(remove_idle=False)  # the clean-up removes them
        with contextlib.suppress(Exception):
            self.engine.cleanup({L.SERVER: self.server_id})
        self.engine.close()
        if self._socket_server is not None:
            if self._socket_thread is not None:
                self._socket_server.shutdown()
            self._socket_server.server_close()
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
            self._server.server_close()
        if self._disk_s3 is not None:
            self._disk_s3.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        if unfinished:  # their checkpoints stay on disk: the next start uploads them
            log.warning("jobs still uploading at shutdown, left for the next start to "
                        "recover: %s", ", ".join(unfinished))
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.history is not None:
            self.history.close()
        if self._temporary_state is not None:
            shutil.rmtree(self._temporary_state, ignore_errors=True)

    def kill_jobs(self) -> None:
        """Cut every job's grace period short (a second Ctrl-C while stopping)."""
        if self.service is not None:
            self.service.kill_all()

    def __enter__(self) -> EndpointServer:
        return self.start() if self._server is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
