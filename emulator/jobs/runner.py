"""Runs one training job for real: attempts, restore, container, mirror, interruptions, uploads.

The runner acts (through runtime/, checkpoints/, storage/) and reports each event to the
pure JobLifecycle, which decides what DescribeTrainingJob shows.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.checkpoints import CheckpointMirror, MirrorEvent, restore
from emulator.contract import SecondaryStatus
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.metrics import MetricTracker
from emulator.jobs.model import Attempt, CheckpointFile, TrainingJob
from emulator.jobs.settings import JobSettings
from emulator.runtime import labels as L
from emulator.runtime.engine import ContainerHandle, DockerEngine
from emulator.runtime.staging import HostDirs, checkpoint_local_path, stage_host
from emulator.runtime.translate import ContainerSpec, container_environment, gateway_url
from emulator.storage.artifacts import artifact_uri, download_prefix, upload_directory_tar
from emulator.storage.logs import CloudWatchLogWriter, log_stream_name
from emulator.storage.s3 import S3Endpoint

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


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


class _Reason:
    EXITED = "exited"
    INTERRUPT = "interrupt"
    STOP = "stop"
    MAX_RUNTIME = "max-runtime"
    MAX_WAIT = "max-wait"


class JobRunner:
    def __init__(self, job: TrainingJob, lifecycle: JobLifecycle, settings: JobSettings,
                 ctx: RunnerContext) -> None:
        self.job = job
        self.lifecycle = lifecycle
        self.settings = settings
        self.ctx = ctx
        self.wake = threading.Event()  # set on StopTrainingJob or an interruption request
        self.interrupt_requested: str | None = None
        self._lock = threading.Lock()  # guards lifecycle calls against API reads
        self.metrics = MetricTracker(
            (job.request.get("AlgorithmSpecification") or {}).get("MetricDefinitions")
        )
        stopping = job.request.get("StoppingCondition") or {}
        self.max_runtime = float(stopping.get("MaxRuntimeInSeconds",
                                              contract.DEFAULT_MAX_RUNTIME_S))
        wait = stopping.get("MaxWaitTimeInSeconds")
        self.max_wait = float(wait) if job.is_spot and wait else None
        self.network: str | None = None
        self.gateway: ContainerHandle | None = None
        self.endpoint_url_inside: str | None = None  # how containers reach the endpoint
        self.thread = threading.Thread(target=self.run, name=f"job-{job.name}", daemon=True)

    @property
    def lock(self) -> threading.Lock:
        return self._lock

    # -- requests from the API ------------------------------------------------------
    def request_stop(self) -> None:
        self.job.stop_requested = True
        self.wake.set()

    def request_interrupt(self, why: str = "manual") -> None:
        self.interrupt_requested = why
        self.wake.set()

    # -- the job --------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except Exception as err:  # the job fails; the endpoint goes on
            log.exception("job %s failed inside the emulator", self.job.name)
            with self._lock:
                if self.job.status not in contract.TERMINAL_STATUSES:
                    self.lifecycle.failed(f"InternalServerError: {type(err).__name__}: {err}")
        finally:
            if self.gateway:
                self.gateway.remove()
            if self.network:
                self.ctx.engine.remove_network(self.network)
            shutil.rmtree(self._job_dir, ignore_errors=True)

    @property
    def _job_dir(self) -> Path:
        return self.ctx.workdir / self.job.name

    def _run(self) -> None:
        image = self.job.request["AlgorithmSpecification"]["TrainingImage"]
        self.network = self.ctx.engine.create_network(
            f"smemu-{self.ctx.server_id}-{self.job.name}",
            L.job_labels(self.ctx.server_id, self.job.name),
        )
        self._start_gateway()
        while True:
            with self._lock:
                attempt = self.lifecycle.attempt_starting()
            if self._check_stop_before_launch():
                return
            with self._lock:
                self.lifecycle.downloading()
            dirs = HostDirs(self._job_dir / f"attempt-{attempt.number}" / "algo-1")
            stage_host(dirs, self.job.request, "algo-1", ["algo-1"])
            self._restore_checkpoints(dirs, attempt)
            self._download_channels(dirs)
            if self._check_stop_before_launch():
                return
            reason = self._run_attempt(image, dirs, attempt)
            if reason != _Reason.INTERRUPT:
                self._finish(reason, dirs, attempt)
                return
            self.ctx.engine.remove_tree(dirs.root, image)
            if self._max_wait_exceeded():
                with self._lock:
                    self.lifecycle.stopping()
                    self.lifecycle.stopped(SecondaryStatus.MAX_WAIT_TIME_EXCEEDED)
                return

    def _start_gateway(self) -> None:
        """Give the job's containers the endpoint (S3 and the rest), unless isolated."""
        if self.job.request.get("EnableNetworkIsolation") or self.ctx.gateway_socket is None \
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

    def _check_stop_before_launch(self) -> bool:
        if not self.job.stop_requested and not self._max_wait_exceeded():
            return False
        why = SecondaryStatus.STOPPED if self.job.stop_requested else \
            SecondaryStatus.MAX_WAIT_TIME_EXCEEDED
        with self._lock:
            self.lifecycle.stopping()
            self.lifecycle.stopped(why)
        return True

    def _max_wait_exceeded(self) -> bool:
        return self.max_wait is not None and \
            time.time() - self.job.creation_time >= self.max_wait

    def _restore_checkpoints(self, dirs: HostDirs, attempt: Attempt) -> None:
        uri = (self.job.request.get("CheckpointConfig") or {}).get("S3Uri")
        if not uri:
            return
        report = restore(self.ctx.s3.client(), uri, dirs.checkpoints)
        attempt.restored = [CheckpointFile(f.path, f.size, f.sha256) for f in report.files]

    def _download_channels(self, dirs: HostDirs) -> None:
        for channel in self.job.request.get("InputDataConfig") or []:
            source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
            uri = str(source.get("S3Uri", ""))
            target = dirs.data / channel["ChannelName"]
            if uri.startswith("file://"):  # emulator extension: a local directory
                shutil.copytree(uri[len("file://"):], target, dirs_exist_ok=True)
            elif uri:
                download_prefix(self.ctx.s3.client(), uri, target)

    # -- one container --------------------------------------------------------------
    def _spec(self, image: str, dirs: HostDirs, attempt: Attempt) -> ContainerSpec:
        algo = self.job.request["AlgorithmSpecification"]
        return ContainerSpec(
            name=f"smemu-{self.ctx.server_id}-{self.job.name}-{attempt.number}-algo-1",
            image=image,
            host="algo-1",
            dirs=dirs,
            environment=container_environment(self.job.request, self.job.arn, self.ctx.region,
                                              self.endpoint_url_inside),
            labels={**L.job_labels(self.ctx.server_id, self.job.name),
                    L.ATTEMPT: str(attempt.number)},
            network=self.network,
            checkpoint_path=checkpoint_local_path(self.job.request),
            entrypoint=algo.get("ContainerEntrypoint"),
            arguments=algo.get("ContainerArguments"),
        )

    def _run_attempt(self, image: str, dirs: HostDirs, attempt: Attempt) -> str:
        uri = (self.job.request.get("CheckpointConfig") or {}).get("S3Uri")
        mirror = CheckpointMirror(dirs.checkpoints, uri, self.ctx.s3.client(),
                                  on_event=lambda e: self._on_mirror_event(attempt, e)) \
            if uri else None
        stream = log_stream_name(self.job.name, "algo-1", time.time())
        attempt.log_stream = stream
        writer = CloudWatchLogWriter(self.ctx.logs.client("logs"), stream)
        writer.start()
        if mirror:
            mirror.start()
        with self._lock:
            self.lifecycle.training()
        handle = self.ctx.engine.start(self._spec(image, dirs, attempt))
        exited = threading.Event()
        pump = threading.Thread(target=self._pump_logs, args=(handle, writer, exited), daemon=True)
        pump.start()
        try:
            reason, trigger = self._watch(handle, exited, attempt)
            sigkilled = False
            if reason != _Reason.EXITED:
                if reason != _Reason.INTERRUPT:
                    with self._lock:
                        self.lifecycle.stopping()
                grace = self.settings.grace_period
                sigkilled = self._terminate(handle, exited, grace)
            exit_code = handle.wait(timeout=30)
            pump.join(timeout=10)
            with self._lock:
                self.lifecycle.container_ended(exit_code, sigkilled)
            if mirror:
                lose = reason == _Reason.INTERRUPT and self.settings.checkpoint_flush == "lose"
                mirror.stop(flush=not lose)
            if reason == _Reason.INTERRUPT:
                with self._lock:
                    self.lifecycle.interrupted(trigger)
            if exit_code is not None and exit_code != 0 and reason == _Reason.EXITED \
                    and handle.oom_killed():
                attempt.outcome = "oom"
            return reason
        finally:
            if mirror:
                mirror.stop(flush=False)
            handle.remove()
            writer.close()

    def _watch(self, handle: ContainerHandle, exited: threading.Event,
               attempt: Attempt) -> tuple[str, str]:
        trigger = self.settings.plan.for_attempt(attempt.number) if self.job.is_spot else None
        used_before = sum(a.training_seconds for a in self.job.attempts[:-1])
        started = attempt.training_started_at or time.time()
        while not exited.is_set():
            now = time.time()
            if self.job.stop_requested:
                return _Reason.STOP, ""
            if self.interrupt_requested:
                why, self.interrupt_requested = self.interrupt_requested, None
                return _Reason.INTERRUPT, why
            if trigger is not None and now - started >= trigger.seconds:
                return _Reason.INTERRUPT, trigger.spec
            if used_before + now - started >= self.max_runtime:
                return _Reason.MAX_RUNTIME, ""
            if self._max_wait_exceeded():
                return _Reason.MAX_WAIT, ""
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        return _Reason.EXITED, ""

    def _terminate(self, handle: ContainerHandle, exited: threading.Event, grace: float) -> bool:
        """SIGTERM, then SIGKILL after `grace` seconds; True when SIGKILL was needed."""
        if grace > 0:
            handle.send_signal(signal.SIGTERM)
            if exited.wait(grace):
                return False
        handle.send_signal(signal.SIGKILL)
        exited.wait(30)
        return True

    def _pump_logs(self, handle: ContainerHandle, writer: CloudWatchLogWriter,
                   exited: threading.Event) -> None:
        try:
            for line in handle.log_lines():
                now = time.time()
                writer.write(line, now)
                self.metrics.observe(line, now)
        except Exception as err:
            log.warning("log stream of %s ended: %s", handle.name, err)
        finally:
            handle.wait(timeout=None)
            exited.set()
            self.wake.set()

    def _on_mirror_event(self, attempt: Attempt, event: MirrorEvent) -> None:
        if event.kind == "uploaded":
            attempt.uploaded.append(CheckpointFile(event.path, event.size, event.sha256, event.at))
        elif event.kind == "deleted":
            attempt.deleted.append(event.path)

    # -- the end ----------------------------------------------------------------------
    def _finish(self, reason: str, dirs: HostDirs, attempt: Attempt) -> None:
        image = self.job.request["AlgorithmSpecification"]["TrainingImage"]
        exit_code = attempt.exit_code
        with self._lock:
            self.job.final_metrics = self.metrics.final()
        if reason == _Reason.EXITED and exit_code != 0:
            with self._lock:
                self.lifecycle.failed(self._failure_reason(dirs, attempt))
        else:
            with self._lock:
                self.lifecycle.uploading()
            self._upload_artifacts(dirs)
            with self._lock:
                if reason == _Reason.EXITED:
                    self.lifecycle.completed()
                else:
                    self.lifecycle.stopped({
                        _Reason.STOP: SecondaryStatus.STOPPED,
                        _Reason.MAX_RUNTIME: SecondaryStatus.MAX_RUNTIME_EXCEEDED,
                        _Reason.MAX_WAIT: SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
                    }[reason])
        self.ctx.engine.remove_tree(dirs.root, image)

    def _failure_reason(self, dirs: HostDirs, attempt: Attempt) -> str:
        try:
            text = dirs.failure_file.read_text(errors="replace").strip()
        except OSError:
            text = ""
        if text:
            return text[: contract.FAILURE_REASON_MAX]
        if attempt.outcome == "oom":
            return ("AlgorithmError: Please use an instance type with more memory, or reduce "
                    "the size of job data processed on an instance. (exit code 137: out of memory)")
        return f"AlgorithmError: Algorithm exited with a non-zero exit code {attempt.exit_code}"

    def _upload_artifacts(self, dirs: HostDirs) -> None:
        output_path = self.job.request["OutputDataConfig"]["S3OutputPath"]
        client = self.ctx.s3.client()
        upload_directory_tar(client, dirs.model,
                             artifact_uri(output_path, self.job.name, contract.MODEL_TAR))
        if dirs.output_data.is_dir() and any(dirs.output_data.iterdir()):
            upload_directory_tar(client, dirs.output_data,
                                 artifact_uri(output_path, self.job.name, contract.OUTPUT_TAR))


def model_artifacts_uri(request: dict[str, Any]) -> str:
    return artifact_uri(request["OutputDataConfig"]["S3OutputPath"], request["TrainingJobName"],
                        contract.MODEL_TAR)
