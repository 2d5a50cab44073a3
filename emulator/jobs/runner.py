"""Runs one training job for real: attempts, waits for capacity, interruptions, the end.

The runner acts (through runtime/, checkpoints/, storage/) and reports each event to the
pure JobLifecycle, which decides what DescribeTrainingJob shows.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator import contract
from emulator.checkpoints import RestoreProgress, restore
from emulator.contract import SecondaryStatus
from emulator.errors import ContainerStartError, JobClientError
from emulator.faults.arming import PlanCursor
from emulator.jobs.attempt import POLL_SECONDS, AttemptRun, Reason
from emulator.jobs.channels import download_channels
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.metrics import MetricTracker
from emulator.jobs.model import Attempt, CheckpointFile, TrainingJob
from emulator.jobs.spec import JobSpec
from emulator.runtime import labels as L
from emulator.runtime.engine import ContainerHandle, DockerEngine
from emulator.runtime.staging import HostDirs, stage_host
from emulator.runtime.translate import (
    ContainerSpec,
    container_environment,
    gateway_url,
    host_addresses,
)
from emulator.storage.artifacts import artifact_uri, upload_directory_tar
from emulator.storage.s3 import S3Endpoint, split_s3_uri

log = logging.getLogger(__name__)
WAITING_FOR_CAPACITY = "Insufficient capacity error from EC2 while launching instances, retrying!"


@dataclass(frozen=True)
class RunnerContext:
    """What every runner of one endpoint process shares."""

    engine: DockerEngine
    s3: S3Endpoint  # checkpoints, channels, artifacts
    logs: S3Endpoint  # CloudWatch Logs (the endpoint itself)
    workdir: Path
    server_id: str
    region: str = contract.DEFAULT_REGION
    gateway_socket: Path | None = None  # the endpoint's unix socket, for the S3 gateway
    gateway_image: str = "smemu-base:latest"
    checkpoint_versioning: bool = False  # turn S3 versioning on for checkpoint buckets


class JobRunner:
    def __init__(self, job: TrainingJob, lifecycle: JobLifecycle, ctx: RunnerContext) -> None:
        self.job = job
        self.lifecycle = lifecycle
        self.settings = job.spec.settings
        self.ctx = ctx
        self.wake = threading.Event()  # set on StopTrainingJob or an interruption request
        self.interrupt_requested: str | None = None
        self.killing = threading.Event()  # shutdown: grace periods end now
        self._interrupt_lock = threading.Lock()
        self.current_run: AttemptRun | None = None
        self.lock = threading.Lock()  # guards the job against API reads mid-update
        self.metrics = MetricTracker(job.spec.metric_definitions)
        self.max_runtime = job.spec.max_runtime
        self.max_wait = job.spec.max_wait
        self.cursor = PlanCursor(self.settings.plan if job.is_spot else PlanCursor.EMPTY)
        self.hosts = list(job.spec.hosts)
        self.addresses: dict[str, str] = {}  # fixed host addresses (multi-instance jobs)
        self.network: str | None = None
        self.gateway: ContainerHandle | None = None
        self.endpoint_url_inside: str | None = None  # how containers reach the endpoint
        self._final: Callable[[], None] | None = None  # the terminal transition, applied last
        self.thread = threading.Thread(target=self.run, name=f"job-{job.name}", daemon=True)

    @property
    def image(self) -> str:
        return self.job.spec.image

    # -- requests from the API ------------------------------------------------------
    def request_stop(self) -> None:
        self.job.stop_requested = True
        self.wake.set()

    def request_interrupt(self, why: str = "manual") -> bool:
        """Interrupt the attempt now; False unless it is Training and not already ending."""
        with self._interrupt_lock:
            run = self.current_run
            if run is None or run.fired is not None or run.exited.is_set() or \
                    self.interrupt_requested is not None or \
                    self.job.secondary_status != SecondaryStatus.TRAINING:
                return False
            self.interrupt_requested = why
        self.wake.set()
        return True

    def kill_now(self) -> None:
        """The endpoint is going away: stop at once, no grace period."""
        self.killing.set()
        self.request_stop()

    def training_seconds_used(self) -> float:
        return sum(a.training_seconds for a in self.job.attempts)

    def max_wait_exceeded(self) -> bool:
        return self.max_wait is not None and \
            time.time() - self.job.creation_time >= self.max_wait

    # -- the job --------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except ContainerStartError as err:  # the image's fault, not the emulator's
            reason = f"ClientError: the training container could not start: {err}"
            self._final = lambda: self.lifecycle.failed(reason)
        except JobClientError as err:  # the request's fault (e.g. an empty channel)
            client_reason = f"ClientError: {err}"
            self._final = lambda: self.lifecycle.failed(client_reason)
        except Exception as err:  # the job fails; the endpoint goes on
            log.exception("job %s failed inside the emulator", self.job.name)
            reason = f"InternalServerError: {type(err).__name__}: {err}"
            self._final = lambda: self.lifecycle.failed(reason)
        finally:
            # Clean up before the terminal status is published: a client that sees
            # Completed/Failed/Stopped finds nothing of the job left behind.
            try:
                if self.gateway:
                    self.gateway.remove()
                if self.network:
                    self.ctx.engine.remove_network(self.network)
                self.ctx.engine.remove_tree(self.ctx.workdir / self.job.name, self.image)
            finally:
                with self.lock:
                    if self.job.status not in contract.TERMINAL_STATUSES:
                        (self._final or (lambda: self.lifecycle.failed(
                            "InternalServerError: the job ended without a status")))()

    def _run(self) -> None:
        self.network, subnet = self.ctx.engine.create_network(
            f"smemu-{self.ctx.server_id}-{self.job.name}",
            L.job_labels(self.ctx.server_id, self.job.name), pinned=len(self.hosts) > 1)
        if subnet:
            self.addresses = host_addresses(subnet, self.hosts)
        self._start_gateway()
        self._enable_checkpoint_versioning()
        while True:
            with self.lock:
                attempt = self.lifecycle.attempt_starting()
            for wait in self.cursor.take_waits():
                self._wait_for_capacity(wait.seconds, in_starting=True)
            if self._stop_before_launch():
                return
            armed = self.cursor.armed()
            with self.lock:
                self.lifecycle.downloading()
            root = self.ctx.workdir / self.job.name / f"attempt-{attempt.number}"
            hosts = [(host, HostDirs(root / host)) for host in self.hosts]
            config = self.job.spec.container_config()
            for host, dirs in hosts:
                stage_host(dirs, config, host)
            self._restore_checkpoints([dirs for _, dirs in hosts], attempt)
            download_channels(self.ctx.s3.client(), self.job.spec.channels,
                              [dirs for _, dirs in hosts],
                              cancelled=lambda: self.job.stop_requested)
            if self._stop_before_launch():
                return
            if armed and armed.at_start:
                reason = Reason.INTERRUPT
                with self.lock:
                    self.lifecycle.interrupted(armed.trigger.spec)
                attempt.interrupted_at = time.time()
            else:
                self.interrupt_requested = None  # a request aimed at an earlier attempt
                run = AttemptRun(self, attempt, hosts, armed)
                self.current_run = run
                reason = run.run()
                if reason != Reason.INTERRUPT:
                    self._finish(reason, run, attempt)
                    return
            trigger = self.cursor.consume() if armed and attempt.interruption == \
                armed.trigger.spec else None
            self.ctx.engine.remove_tree(root, self.image)
            if trigger and trigger.capacity:
                self._wait_for_capacity(trigger.capacity, in_starting=False)
            if self._stop_before_launch():
                return

    def _wait_for_capacity(self, seconds: float, *, in_starting: bool) -> None:
        """No spot capacity for `seconds` (counted against MaxWaitTimeInSeconds)."""
        if in_starting:
            with self.lock:
                self.lifecycle.note(WAITING_FOR_CAPACITY)
        deadline = time.time() + seconds
        while time.time() < deadline and not self.job.stop_requested \
                and not self.max_wait_exceeded():
            self.wake.wait(min(POLL_SECONDS, max(0.0, deadline - time.time())))
            self.wake.clear()

    def _stop_before_launch(self) -> bool:
        runtime_used = self.training_seconds_used() >= self.max_runtime
        if not self.job.stop_requested and not self.max_wait_exceeded() and not runtime_used:
            return False
        if self.job.stop_requested:
            why = SecondaryStatus.STOPPED
        elif runtime_used:  # e.g. spent in an interrupted attempt's grace period
            why = SecondaryStatus.MAX_RUNTIME_EXCEEDED
        else:
            why = SecondaryStatus.MAX_WAIT_TIME_EXCEEDED
        with self.lock:
            self.lifecycle.stopping()
        self._final = lambda: self.lifecycle.stopped(why)
        return True

    def _start_gateway(self) -> None:
        """Give the job's containers the endpoint (S3 and the rest), unless isolated."""
        if self.job.spec.network_isolation or self.ctx.gateway_socket is None \
                or self.network is None:
            return
        if not self.ctx.engine.image_exists(self.ctx.gateway_image):
            log.warning("no %s image: job %s runs without S3 access from its containers "
                        "(make images builds it)", self.ctx.gateway_image, self.job.name)
            return
        self.gateway = self.ctx.engine.start_gateway(
            f"smemu-{self.ctx.server_id}-{self.job.name}-gateway", self.ctx.gateway_image,
            self.network, self.ctx.gateway_socket,
            L.job_labels(self.ctx.server_id, self.job.name))
        self.endpoint_url_inside = gateway_url()

    def _enable_checkpoint_versioning(self) -> None:
        """Keep every uploaded version of every checkpoint, to browse intermediate stages."""
        uri = self.job.spec.checkpoint_uri
        if uri and self.ctx.checkpoint_versioning:
            bucket, _ = split_s3_uri(uri)
            self.ctx.s3.client().put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def _restore_checkpoints(self, hosts: list[HostDirs], attempt: Attempt) -> None:
        """Everything under the prefix onto every host, before any container starts."""
        uri = self.job.spec.checkpoint_uri
        if not uri:
            return
        first, *others = hosts
        def show(line: str) -> None:
            log.info("job %s: %s", self.job.name, line)
            with self.lock:
                self.lifecycle.note(line)  # the Downloading StatusMessage, as AWS updates it

        progress = RestoreProgress(show)
        report = restore(self.ctx.s3.blob_store(), uri, first.checkpoints, progress=progress)
        progress.finish(report)
        attempt.restored = [CheckpointFile(f.path, f.size, f.sha256) for f in report.files]
        for dirs in others:  # the same download on every host: one from S3, then copies
            shutil.copytree(first.checkpoints, dirs.checkpoints, dirs_exist_ok=True)

    def container_spec(self, dirs: HostDirs, attempt: Attempt, host: str) -> ContainerSpec:
        spec = self.job.spec
        return ContainerSpec(
            name=f"smemu-{self.ctx.server_id}-{self.job.name}-{attempt.number}-{host}",
            image=self.image,
            host=host,
            dirs=dirs,
            environment=container_environment(spec.name, self.job.arn, self.ctx.region,
                                              spec.environment, self.endpoint_url_inside),
            labels={**L.job_labels(self.ctx.server_id, self.job.name),
                    L.ATTEMPT: str(attempt.number)},
            network=self.network,
            checkpoint_path=spec.checkpoint.local_path if spec.checkpoint else None,
            entrypoint=None if spec.entrypoint is None else list(spec.entrypoint),
            arguments=None if spec.arguments is None else list(spec.arguments),
            address=self.addresses.get(host),
            peers={h: a for h, a in self.addresses.items() if h != host},
        )

    # -- the end ----------------------------------------------------------------------
    def _finish(self, reason: Reason, run: AttemptRun, attempt: Attempt) -> None:
        with self.lock:
            self.job.final_metrics = self.metrics.final()
        failed = run.failed_host
        if reason == Reason.EXITED and attempt.exit_code != 0:
            host = failed or run.hosts[0]
            failure = self._failure_reason(host.dirs, attempt, host.host)
            self._final = lambda: self.lifecycle.failed(failure)
            return
        with self.lock:
            self.lifecycle.uploading()
        self._upload_artifacts([host.dirs for host in run.hosts])
        if reason == Reason.EXITED:
            self._final = self.lifecycle.completed
        else:
            why = {
                Reason.STOP: SecondaryStatus.STOPPED,
                Reason.MAX_RUNTIME: SecondaryStatus.MAX_RUNTIME_EXCEEDED,
                Reason.MAX_WAIT: SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
            }[reason]
            self._final = lambda: self.lifecycle.stopped(why)

    def _failure_reason(self, dirs: HostDirs, attempt: Attempt, host: str = "algo-1") -> str:
        try:
            text = dirs.failure_file.read_text(errors="replace").strip()
        except OSError:
            text = ""
        if text:
            # SageMaker puts the file's text after its own "AlgorithmError: " prefix.
            if not text.startswith("AlgorithmError:"):
                text = f"AlgorithmError: {text}"
            return text[: contract.FAILURE_REASON_MAX]
        if attempt.oom_killed:
            return ("AlgorithmError: Please use an instance type with more memory, or reduce "
                    "the size of job data processed on an instance. (exit code 137: out of memory)")
        if attempt.exit_code is None:
            return (f"InternalServerError: the training container of {host} ended without an "
                    "exit code (removed from outside smemu?)")
        return f"AlgorithmError: Algorithm exited with a non-zero exit code {attempt.exit_code}"

    def _upload_artifacts(self, hosts: list[HostDirs]) -> None:
        """model.tar.gz (and output.tar.gz) of every host merged; algo-1's file wins a clash."""
        output_path = self.job.spec.output_path
        client = self.ctx.s3.client()
        model_uri = model_artifacts_uri(self.job.spec)
        upload_directory_tar(client, [dirs.model for dirs in hosts], model_uri)
        with self.lock:
            self.job.model_artifacts = model_uri
        outputs = [d.output_data for d in hosts if d.output_data.is_dir() and
                   any(d.output_data.iterdir())]
        if outputs:
            upload_directory_tar(client, outputs,
                                 artifact_uri(output_path, self.job.name, contract.OUTPUT_TAR))


def model_artifacts_uri(spec: JobSpec) -> str:
    return artifact_uri(spec.output_path, spec.name, contract.MODEL_TAR)
