"""Runs one training job for real: attempts, waits for capacity, interruptions, the end.

The runner acts (through runtime/, checkpoints/, storage/) and reports each event to the
pure JobLifecycle, which decides what DescribeTrainingJob shows.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from emulator import contract
from emulator.checkpoints import RestoreProgress, RestoreReport, restore
from emulator.checkpoints.retry import with_retries
from emulator.contract import SecondaryStatus
from emulator.errors import (
    CheckpointError,
    ContainerStartError,
    JobClientError,
)
from emulator.faults.arming import PlanCursor
from emulator.faults.plan import InterruptionPlan
from emulator.jobs.attempt import AttemptContext, AttemptRun, Reason
from emulator.jobs.channels import download_channels
from emulator.jobs.context import RunnerContext
from emulator.jobs.control import JobControl
from emulator.jobs.failure import HostEnd, failure_reason
from emulator.jobs.gpu_jobs import plan_gpus
from emulator.jobs.instance_limits import plan_limits
from emulator.jobs.job_network import JobNetwork
from emulator.jobs.job_s3 import JobS3, S3Unavailable, unmirrored
from emulator.jobs.launch import ContainerLaunch
from emulator.jobs.lifecycle import JobEnding, JobLifecycle
from emulator.jobs.limits import JobLimits
from emulator.jobs.metrics import MetricPublisher, MetricTracker
from emulator.jobs.model import Attempt, CheckpointFile, Outcome, Span, TrainingJob
from emulator.jobs.settings import TAG_CODE_DIR, CheckpointPrefix
from emulator.jobs.spec import JobSpec
from emulator.jobs.store import RunnerFactory
from emulator.runtime import labels as L
from emulator.runtime.staging import HostDirs, stage_host
from emulator.runtime.translate import ContainerSpec, container_environment
from emulator.storage.artifacts import artifact_uri, upload_directory_tar
from emulator.storage.s3 import split_s3_uri

log = logging.getLogger(__name__)
WAITING_FOR_CAPACITY = "Insufficient capacity error from EC2 while launching instances, retrying!"
NO_STATUS = JobEnding.failed("InternalServerError: the job ended without a status")


class JobRunner:
    """One thread that runs one job; requests reach it through its JobControl."""

    def __init__(self, ctx: RunnerContext, *, job: TrainingJob, lifecycle: JobLifecycle,
                 control: JobControl, lock: threading.Lock) -> None:
        self.job = job
        self.lifecycle = lifecycle
        self.clock = lifecycle.clock  # one clock for the job's statuses and its deadlines
        self.settings = job.spec.settings
        self.control = control
        self.lock = lock  # guards the job against API reads mid-update
        self.ctx = ctx
        self.current_run: AttemptRun | None = None
        self.metrics = MetricTracker(job.spec.metric_definitions)
        if self.metrics.has_definitions:  # SageMaker puts the values in CloudWatch too
            self.metrics.publish_to(MetricPublisher(ctx.cloudwatch_client, job.name))
        self.limits = JobLimits(job, self.clock)
        # the job's own S3 traffic, faults and all
        self.s3 = JobS3(ctx.s3, job, self.clock, ctx.blob_store)
        plan = self.settings.plan
        if not job.is_spot:  # only a host failure happens to an on-demand job
            plan = InterruptionPlan(tuple(t for t in plan.triggers if t.host_failure))
        self.cursor = PlanCursor(plan)
        self.hosts = list(job.spec.hosts)
        self.network = JobNetwork(ctx, job.name, self.hosts, isolated=job.spec.network_isolation,
                                  injector=self.s3.container_injector)
        # GPUs per host (ml.g*/ml.p* types, when the engine has them), else the CPU flag.
        self.gpus, self.cpu_flag = plan_gpus(job.spec, ctx.engine.has_gpus)
        # CPU and memory per host from the instance type (--instance-limits), when on.
        limits = self.settings.instance_limits
        self.host_limits, self.limit_notes = plan_limits(
            limits, job.spec.resources.host_types(), ctx.engine.machine() if limits.on else None)
        self.restore_report: RestoreReport | None = None  # the last attempt's (one host)
        self.code_mount: tuple[str, str] | None = None  # (real host dir, container path)
        self.removals: list[threading.Thread] = []  # ended attempts' directories going away
        self.thread = threading.Thread(target=self._main, name=f"job-{job.name}", daemon=True)

    @property
    def image(self) -> str:
        return self.job.spec.image

    # -- what the service asks of a runner --------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def unfired_triggers(self) -> list[str]:
        return self.cursor.unfired

    # -- the job --------------------------------------------------------------------
    def _main(self) -> None:
        ending = NO_STATUS
        try:
            ending = self.run()
        finally:
            with self.lock:
                if self.job.status not in contract.TERMINAL_STATUSES:
                    self.lifecycle.end(ending)

    def run(self) -> JobEnding:
        """Runs the job to its end and cleans up after it; returns how it ended (applied
        after the clean-up: a client that sees Completed/Failed/Stopped finds nothing of the
        job left behind)."""
        try:
            return self._run()
        except ContainerStartError as err:  # the image's fault, not the emulator's
            return JobEnding.failed(f"ClientError: the training container could not start: {err}")
        except JobClientError as err:  # the request's fault (e.g. an empty channel)
            return JobEnding.failed(f"ClientError: {err}")
        except S3Unavailable as err:  # S3 did not take the checkpoints or the model in time
            return JobEnding.failed(err.reason)
        except Exception as err:  # the job fails; the endpoint goes on
            log.exception("job %s failed inside the emulator", self.job.name)
            return JobEnding.failed(f"InternalServerError: {type(err).__name__}: {err}")
        finally:
            try:
                for removal in self.removals:  # the containers first: then their network
                    removal.join()
                self.network.release()
                self.ctx.engine.remove_tree(self.ctx.workdir / self.job.name, self.image)
            except Exception:  # what is left is labelled: the endpoint's shutdown removes it
                log.exception("clean-up after job %s failed", self.job.name)
            finally:
                self._record_s3_faults()
                self.s3.close()

    def _run(self) -> JobEnding:
        self._enable_checkpoint_versioning()
        while True:
            with self.lock:
                attempt = self.lifecycle.attempt_starting()
            for wait in self.cursor.take_waits():
                self._wait_for_capacity(wait.seconds, in_starting=True)
            if stopped := self._stop_before_launch():
                return stopped
            self.network.ensure()
            armed = self.cursor.armed()
            with self.lock:
                self.lifecycle.downloading()
            root = self.ctx.workdir / self.job.name / f"attempt-{attempt.number}"
            hosts = [(host, HostDirs(root / host)) for host in self.hosts]
            config = self.job.spec.container_config()
            for host, dirs in hosts:
                stage_host(dirs, config, host)
            self.code_mount = self._code_mount()
            launch = None if armed and armed.at_start else ContainerLaunch(
                self.ctx.engine, [self.container_spec(dirs, attempt, host) for host, dirs in hosts],
                f"create-{self.job.name}-{attempt.number}").begin()
            try:  # the containers are made meanwhile, and started only once all is there
                self._restore_checkpoints([dirs for _, dirs in hosts], attempt)
                self._download_channels([dirs for _, dirs in hosts],
                                        [config.group_of(host)[0] for host, _ in hosts])
                if stopped := self._stop_before_launch():
                    return stopped
                containers = launch.containers() if launch else {}
            finally:
                if launch:  # what the attempt did not take (a stop, a failed restore)
                    launch.discard()
            if armed and armed.at_start:
                with self.lock:
                    self.lifecycle.interrupted(armed.trigger.spec)
                attempt.interrupted_at = self.clock.now()
            else:
                run = AttemptRun(self._attempt_context(), attempt, hosts, armed,
                                 restored=self.restore_report, containers=containers)
                self.current_run = run
                self.control.accept_interrupts(run.interruptible)
                try:
                    reason = run.run()
                    self._record_s3_faults()
                finally:  # the next attempt's restore, or the model's upload, goes on meanwhile
                    self._in_background(f"remove-containers-{attempt.number}",
                                        functools.partial(_remove_containers, run))
                if self.cpu_flag:
                    attempt.flags.append(self.cpu_flag)
                attempt.flags.extend(self.limit_notes)
                if not run.lose and not (reason == Reason.EXITED and attempt.exit_code != 0):
                    unmirrored(run.hosts, self.s3)  # S3 must hold every checkpoint now
                if reason == Reason.HOST_FAILURE and not self._may_retry():
                    self.cursor.consume()
                    return JobEnding.failed(
                        f"{contract.INTERNAL_FAILURE} (smemu: a host was lost, trigger "
                        f"{attempt.interruption}; RetryStrategy.MaximumRetryAttempts "
                        f"{self.job.spec.retry_attempts})")
                if reason not in (Reason.INTERRUPT, Reason.HOST_FAILURE):
                    return self._finish(reason, run, attempt)
            trigger = self.cursor.consume() if armed and attempt.interruption == \
                armed.trigger.spec else None
            self._remove_in_background(root)
            if trigger and trigger.capacity:
                self._wait_for_capacity(trigger.capacity, in_starting=False)
            if stopped := self._stop_before_launch():
                return stopped

    def _record_s3_faults(self) -> None:
        counts = self.s3.counts()
        if counts is not None:
            with self.lock:
                self.job.s3_faults = counts.to_dict()

    def _may_retry(self) -> bool:
        """RetryStrategy: an internal failure is retried MaximumRetryAttempts times."""
        failures = sum(1 for a in self.job.attempts if a.outcome == Outcome.HOST_FAILURE)
        return failures <= self.job.spec.retry_attempts

    def _attempt_context(self) -> AttemptContext:
        return AttemptContext(
            job=self.job, lock=self.lock, lifecycle=self.lifecycle, control=self.control,
            clock=self.clock, settings=self.settings, limits=self.limits, metrics=self.metrics,
            engine=self.ctx.engine, s3=self.s3, logs=self.ctx.logs)

    def _wait_for_capacity(self, seconds: float, *, in_starting: bool) -> None:
        """No spot capacity for `seconds` (counted against MaxWaitTimeInSeconds)."""
        if in_starting:
            with self.lock:
                self.lifecycle.note(WAITING_FOR_CAPACITY)
        started = self.clock.now()
        deadline = started + seconds
        # No polling: a stop wakes the pause, and the two deadlines are known.
        while self.clock.now() < deadline and not self.control.stop_requested \
                and not self.limits.max_wait_exceeded():
            self.control.pause(self.clock, max(0.0, min(deadline - self.clock.now(),
                                                        self.limits.max_wait_left())))
        if self.job.attempts:  # the report draws it: before this attempt, or after it
            with self.lock:
                self.job.attempts[-1].capacity_waits.append(Span(started, self.clock.now()))

    def _stop_before_launch(self) -> JobEnding | None:
        """How the job ends if it must not launch (again): stopped or out of time."""
        runtime_used = self.limits.training_seconds_used() >= self.limits.max_runtime
        if not self.control.stop_requested and not self.limits.max_wait_exceeded() and \
                not runtime_used:
            return None
        if self.control.stop_requested:
            why = SecondaryStatus.STOPPED
        elif runtime_used:  # e.g. spent in an interrupted attempt's grace period
            why = SecondaryStatus.MAX_RUNTIME_EXCEEDED
        else:
            why = SecondaryStatus.MAX_WAIT_TIME_EXCEEDED
        with self.lock:
            self.lifecycle.stopping()
        return JobEnding.stopped(why)

    def _remove_in_background(self, root: Path) -> None:
        """An ended attempt's directory (a checkpoint copy may be GiBs) is deleted while the
        next attempt starts: nothing reads it."""
        self._in_background(f"remove-{root.name}",
                            lambda: self.ctx.engine.remove_tree(root, self.image))

    def _in_background(self, name: str, removal: Callable[[], object]) -> None:
        """A removal the job's next steps need not wait for; the job's end waits for it."""
        def remove() -> None:
            try:
                removal()
            except Exception:  # the job's own clean-up at its end, or the endpoint's, retries
                log.exception("job %s: %s failed", self.job.name, name)

        thread = threading.Thread(target=remove, name=name, daemon=True)
        thread.start()
        self.removals.append(thread)

    def _enable_checkpoint_versioning(self) -> None:
        """Keep every uploaded version of every checkpoint, to browse intermediate stages."""
        uri = self.job.spec.checkpoint_uri
        if uri and self.ctx.checkpoint_versioning:
            bucket, _ = split_s3_uri(uri)
            self.ctx.s3.client().put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})

    def _download_channels(self, hosts: list[HostDirs], groups: list[str]) -> None:
        """The input channels onto every host; one over 64 MiB reports its progress in the
        Downloading StatusMessage, as a restore does."""
        shown: dict[str, RestoreProgress] = {}

        def progress(channel: str) -> RestoreProgress:
            shown[channel] = RestoreProgress(self._note, label=f"Downloading channel {channel}")
            return shown[channel]

        started = self.clock.monotonic()
        download_channels(self.ctx.s3.client(), self.job.spec.channels, hosts,
                          cancelled=lambda: self.control.stop_requested, progress=progress,
                          groups=groups, host_paths=self.ctx.host_paths)
        for bar in shown.values():
            bar.finish_transfer(bar.files_started, bar.total_bytes,
                                self.clock.monotonic() - started)

    def _note(self, line: str) -> None:
        log.info("job %s: %s", self.job.name, line)
        with self.lock:
            self.lifecycle.note(line)  # the Downloading StatusMessage, as AWS updates it

    def _restore_checkpoints(self, hosts: list[HostDirs], attempt: Attempt) -> None:
        """Everything under the prefix onto every host, before any container starts."""
        uri = self.job.spec.checkpoint_uri
        if not uri:
            return
        first, *others = hosts
        progress = RestoreProgress(self._note)
        attempt.restore_started_at = self.clock.now()
        try:
            report = restore(self.s3.blob_store(), uri, first.checkpoints, progress=progress,
                             string_prefix=self.settings.checkpoint_prefix ==
                             CheckpointPrefix.STRING, patience=self.s3.patience())
        except CheckpointError as err:
            if not isinstance(err.__cause__, (BotoCoreError, ClientError)):
                raise  # not S3's answer (a key that would escape the directory, say)
            raise S3Unavailable.of("the checkpoints could not be restored", self.s3.wait,
                                   err) from err
        progress.finish(report)
        self.restore_report = report if not others else None
        attempt.restored = [CheckpointFile(f.path, f.size, f.sha256) for f in report.files]
        attempt.restored_siblings = list(report.siblings)
        attempt.restore_seconds = self.clock.now() - attempt.restore_started_at
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
                                              spec.environment,
                                              self.network.endpoint_url_inside,
                                              (self.ctx.logs.access_key,
                                               self.ctx.logs.secret_key)),
            labels={**L.job_labels(self.ctx.server_id, self.job.name),
                    L.ATTEMPT: str(attempt.number)},
            network=self.network.name,
            checkpoint_path=spec.checkpoint.local_path if spec.checkpoint else None,
            extra_mounts={str(dirs.tensorboard): spec.tensorboard.local_path.rstrip("/") or "/"}
            if spec.tensorboard else {},
            entrypoint=None if spec.entrypoint is None else list(spec.entrypoint),
            arguments=None if spec.arguments is None else list(spec.arguments),
            gpus=self.gpus.get(host, 0),
            cpus=self.host_limits[host].cpus if host in self.host_limits else None,
            memory_bytes=self.host_limits[host].memory_bytes if host in self.host_limits
            else None,
            address=self.network.addresses.get(host),
            peers={h: a for h, a in self.network.addresses.items() if h != host},
            code_mount=self.code_mount,
        )

    def _code_mount(self) -> tuple[str, str] | None:
        """smemu:code-dir resolved again now, inside the allowed roots: Docker mounts what the
        path names at this moment, so the real path is what it gets."""
        code_dir = self.settings.code_dir
        if code_dir is None:
            return None
        return self.ctx.host_paths.resolve_at_use(f"Tag {TAG_CODE_DIR}", code_dir), \
            self.settings.code_path

    # -- the end ----------------------------------------------------------------------
    def _finish(self, reason: Reason, run: AttemptRun, attempt: Attempt) -> JobEnding:
        with self.lock:
            self.job.final_metrics = self.metrics.final()
        failed = run.failed_host
        if reason == Reason.EXITED and attempt.exit_code != 0:
            host = failed or run.hosts[0]
            return JobEnding.failed(self._failure_reason(host.dirs, attempt, host.host))
        with self.lock:
            self.lifecycle.uploading()
        self._upload_artifacts([host.dirs for host in run.hosts])
        if reason == Reason.EXITED:
            return JobEnding.completed()
        return JobEnding.stopped({
            Reason.STOP: SecondaryStatus.STOPPED,
            Reason.MAX_RUNTIME: SecondaryStatus.MAX_RUNTIME_EXCEEDED,
            Reason.MAX_WAIT: SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
        }[reason])

    def _failure_reason(self, dirs: HostDirs, attempt: Attempt, host: str = "algo-1") -> str:
        try:
            text = dirs.failure_file.read_text(errors="replace").strip()
        except OSError:
            text = ""
        limit = self.host_limits.get(host)
        return failure_reason(HostEnd(
            host=host, exit_code=attempt.exit_code, oom_killed=attempt.oom_killed,
            failure_file=text, memory_limit=limit.memory_bytes if limit else None,
            instance_type=self.job.spec.resources.instance_type_of(host),
            limits=self.settings.instance_limits.to_text()))

    def _upload_artifacts(self, hosts: list[HostDirs]) -> None:
        """model.tar.gz (and output.tar.gz) of every host merged; algo-1's file wins a clash."""
        output_path = self.job.spec.output_path
        model_uri = model_artifacts_uri(self.job.spec)
        self._upload_tar([dirs.model for dirs in hosts], model_uri, "the model")
        with self.lock:
            self.job.model_artifacts = model_uri
        outputs = [d.output_data for d in hosts if d.output_data.is_dir() and
                   any(d.output_data.iterdir())]
        if outputs:
            self._upload_tar(outputs, artifact_uri(output_path, self.job.name,
                                                   contract.OUTPUT_TAR), "the output data")

    def _upload_tar(self, sources: list[Path], uri: str, what: str) -> None:
        """Tar and upload; made again and re-sent while S3 fails, up to `smemu:s3-wait`."""
        client = self.s3.client()
        try:
            with_retries(lambda: upload_directory_tar(client, sources, uri),
                         patience=self.s3.patience())
        except Exception as err:
            raise S3Unavailable.of(f"{what} was not uploaded to {uri}", self.s3.wait,
                                   err) from err


def _remove_containers(run: AttemptRun) -> None:
    for host in run.hosts:
        host.handle.remove()


def model_artifacts_uri(spec: JobSpec) -> str:
    return artifact_uri(spec.output_path, spec.name, contract.MODEL_TAR)


def runner_factory(ctx: RunnerContext) -> RunnerFactory:
    """The runners of one endpoint: each runs its job on `ctx`'s engine and S3."""
    def make(*, job: TrainingJob, lifecycle: JobLifecycle, control: JobControl,
             lock: threading.Lock) -> JobRunner:
        return JobRunner(ctx, job=job, lifecycle=lifecycle, control=control, lock=lock)
    return make
