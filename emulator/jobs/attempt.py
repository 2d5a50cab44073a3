"""One attempt of a job: start its hosts' containers, mirror checkpoints, watch triggers, end it.

A multi-instance job runs one container per host (algo-1..algo-N), each with its own checkpoint
directory mirrored to the job's one S3 prefix. The hosts live and die together: a spot
interruption, a stop or a runtime limit ends all of them, and a host that fails ends the rest.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from emulator import contract
from emulator.checkpoints import CheckpointMirror, MirrorEvent, RestoreReport, verify_mirror
from emulator.checkpoints.activity import Activity, ActivityRecorder
from emulator.checkpoints.localfs import count_checkpoint_files
from emulator.checkpoints.manifest import KnownUpload, known_from_restore
from emulator.contract import SecondaryStatus
from emulator.faults.arming import ArmedTrigger
from emulator.jobs.clock import Clock
from emulator.jobs.cluster import verify_shared_prefix
from emulator.jobs.control import JobControl
from emulator.jobs.job_s3 import JobS3
from emulator.jobs.launch import start_all
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.limits import JobLimits
from emulator.jobs.metrics import MetricTracker
from emulator.jobs.model import Attempt, CheckpointFile, TrainingJob
from emulator.jobs.reclaim import note_reclaim, target_delay
from emulator.jobs.resume import analyse, merge_hosts
from emulator.jobs.settings import CheckpointFlush, JobSettings
from emulator.runtime.protocol import Container, Engine
from emulator.runtime.staging import HostDirs
from emulator.storage.logs import CloudWatchLogWriter, log_stream_name
from emulator.storage.s3 import S3Endpoint

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2
KILLED_EXIT_CODE = 128 + signal.SIGKILL  # what Docker reports for a SIGKILLed container


class Reason(str, Enum):
    """Why an attempt's containers ended."""

    EXITED = "exited"
    INTERRUPT = "interrupt"
    STOP = "stop"
    MAX_RUNTIME = "max-runtime"
    MAX_WAIT = "max-wait"
    HOST_FAILURE = "host-failure"  # a host was lost (an internal failure)


STOPPED_BY = {Reason.STOP: "StopTrainingJob", Reason.MAX_RUNTIME: "MaxRuntimeInSeconds",
              Reason.MAX_WAIT: "MaxWaitTimeInSeconds"}  # what a stop is reported as


@dataclass(frozen=True)
class AttemptContext:
    """What an attempt needs of its job, handed down by the runner."""

    job: TrainingJob
    lock: threading.Lock  # guards the job against API reads mid-update
    lifecycle: JobLifecycle
    control: JobControl
    clock: Clock
    settings: JobSettings
    limits: JobLimits
    metrics: MetricTracker
    engine: Engine
    s3: JobS3  # the job's own S3 traffic, with its faults
    logs: S3Endpoint


@dataclass
class HostRun:
    """One host's container and the machinery around it during one attempt."""

    host: str
    dirs: HostDirs
    view: Attempt  # what this host saw (the job's attempt itself when there is one host)
    handle: Container  # made before the attempt, started by it (jobs/launch.py)
    exited: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    mirror: CheckpointMirror | None = None
    tensorboard: CheckpointMirror | None = None  # TensorBoardOutputConfig, the same engine
    recorder: ActivityRecorder | None = None
    writer: CloudWatchLogWriter | None = None
    pump: threading.Thread | None = None
    torn: set[str] = field(default_factory=set)
    mirror_errors: list[str] = field(default_factory=list)
    activity: Activity | None = None  # what happened in its checkpoint directory
    exited_at: float | None = None
    killed_at: float | None = None  # when it was SIGKILLed

    @property
    def failed(self) -> bool:
        # No exit code (the container vanished: `docker rm -f`, a cleanup) is no success.
        return self.exited.is_set() and self.exit_code != 0


class AttemptRun:
    def __init__(self, ctx: AttemptContext, attempt: Attempt, hosts: list[tuple[str, HostDirs]],
                 armed: ArmedTrigger | None, restored: RestoreReport | None = None, *,
                 containers: dict[str, Container]) -> None:
        self.ctx = ctx
        self.job = ctx.job
        self.clock = ctx.clock
        self.attempt = attempt
        self.armed = armed
        # One host reports straight into the job's attempt; several each keep their own view,
        # merged into it at the end. The containers are made, not started (jobs/launch.py).
        self.several = len(hosts) > 1
        self.hosts = [HostRun(host, dirs, Attempt(attempt.number, attempt.started_at, host=host)
                              if self.several else attempt, containers[host])
                      for host, dirs in hosts]
        self.exited = threading.Event()  # every host exited, or one failed
        self._first_failure: HostRun | None = None
        self._exit_lock = threading.Lock()
        self.fired: str | None = None  # the spec of the trigger that fired
        self.lose = False  # checkpoint flush policy "lose" applies to this ending
        self.killed_at: float | None = None
        self.reclaimed: HostRun | None = None  # the host whose instance a host= trigger took
        self.uri = self.job.spec.checkpoint_uri
        self.restored = restored
        self.restored_known: dict[str, KnownUpload] = {}  # the proof need not read them again

    @property
    def failed_host(self) -> HostRun | None:
        """The host whose failure ended the attempt (the first to fail)."""
        return self._first_failure

    def interruptible(self) -> bool:
        """Whether an interruption may be injected now: Training, and not already ending."""
        return self.fired is None and not self.exited.is_set() and \
            self.job.secondary_status == SecondaryStatus.TRAINING

    def fire(self, spec: str) -> None:
        if self.fired is None:
            self.fired = spec
            self.ctx.control.wake.set()

    def run(self) -> Reason:
        """Runs the containers to their end; returns a Reason."""
        try:
            for host in self.hosts:
                self._prepare(host)
            with self.ctx.lock:
                self.ctx.lifecycle.training()
            self.restored_known = self._as_restored()
            # Only now: the restore and the channels are complete.
            start_all([h.handle for h in self.hosts])
            for host in self.hosts:
                host.pump = threading.Thread(target=self._pump_logs, args=(host,), daemon=True)
                host.pump.start()
            reason = self._watch()
            self.lose = reason == Reason.INTERRUPT and \
                self.ctx.settings.checkpoint_flush == CheckpointFlush.LOSE
            if self.armed and self.armed.trigger.kind == "random":
                self.attempt.planned_seconds = round(self.armed.random_delay, 3)
            if reason != Reason.EXITED:
                self._end_containers(reason)
            else:
                self._kill_survivors()
            for host in self.hosts:
                code: int | None = None
                with contextlib.suppress(Exception):  # a container removed from outside
                    code = host.handle.wait(timeout=30)
                host.exit_code = code if host.exit_code is None else host.exit_code
                if host.pump:
                    host.pump.join(timeout=10)
            failed = self.failed_host
            with self.ctx.lock:
                self.ctx.lifecycle.container_ended(
                    failed.exit_code if failed else self.hosts[0].exit_code,
                    any(h.view.sigkilled for h in self.hosts))
            reason = self._after_containers(reason)
            self._analyse()
            return reason
        finally:
            for host in self.hosts:
                if host.recorder:
                    host.recorder.stop()
                for mirror in (host.mirror, host.tensorboard):
                    if mirror:
                        mirror.stop(flush=False)
                if host.writer:  # (the runner removes the containers, in the background)
                    host.writer.close()

    def _prepare(self, host: HostRun) -> None:
        ctx = self.ctx
        if self.uri:
            host.mirror = CheckpointMirror(
                host.dirs.checkpoints, self.uri, ctx.s3.blob_store(),
                markers=ctx.settings.checkpoint_markers, patience=ctx.s3.patience(),
                settle_seconds=contract.CHECKPOINT_SETTLE_S,
                on_event=lambda event: self._on_mirror_event(host, event))
        board = self.job.spec.tensorboard
        if board:  # mirrored like checkpoints, but never restored nor counted as checkpoints
            host.dirs.tensorboard.mkdir(parents=True, exist_ok=True)
            host.tensorboard = CheckpointMirror(
                host.dirs.tensorboard, board.s3_uri, ctx.s3.blob_store(),
                settle_seconds=contract.CHECKPOINT_SETTLE_S, patience=ctx.s3.patience())
            host.tensorboard.start()
        stream = log_stream_name(self.job.name, host.host, self.clock.now())
        host.view.log_stream = stream
        if self.several and host.host == "algo-1":
            self.attempt.log_stream = stream
        host.writer = CloudWatchLogWriter(ctx.logs.client("logs"), stream)
        host.writer.start()
        if host.mirror:
            host.mirror.start()
            host.mirror.flush_progress.on_change = host.view.record_flush
            host.recorder = ActivityRecorder(host.mirror.observer,  # one observer for both
                                             self._on_write_started).start()

    def _after_containers(self, reason: Reason) -> Reason:
        """Stop the mirrors (flushing unless "lose"), prove S3, settle the attempt's ending."""
        for host in self.hosts:
            activity: Activity | None = host.recorder.stop() if host.recorder else None
            killed_at = host.killed_at
            if activity is not None and killed_at is not None and host.view.sigkilled:
                # SIGKILLed writers cannot close their files: the kernel does, after the kill.
                # (A host that ended by itself as the kill came closed its own files.)
                host.torn |= {p for p, at in activity.last_closed.items() if at >= killed_at}
            host.activity = activity
            lost = self.lose and (self.reclaimed is None or host is self.reclaimed)
            if host.mirror:
                host.mirror_errors = host.mirror.stop(flush=not lost).errors
            if host.tensorboard:
                errors = host.tensorboard.stop(flush=not lost).errors
                if errors:
                    log.warning("job %s: TensorBoard output not mirrored: %s", self.job.name,
                                "; ".join(errors[:3]))
        self._verify()
        if reason == Reason.INTERRUPT and self.ctx.control.stop_requested:
            # StopTrainingJob during the interruption's grace: the job stops (and its
            # model is uploaded) instead of waiting for another attempt.
            reason = Reason.STOP
            self.attempt.stopped_by = self.ctx.control.stopped_by
            with self.ctx.lock:
                self.ctx.lifecycle.stopping()
        elif reason == Reason.INTERRUPT and self.armed and self.armed.trigger.host_failure \
                and self.fired == self.armed.trigger.spec:
            reason = Reason.HOST_FAILURE
            with self.ctx.lock:
                self.ctx.lifecycle.host_failed(self.fired)
        elif reason == Reason.INTERRUPT:
            with self.ctx.lock:
                self.ctx.lifecycle.interrupted(self.fired or "manual")
        failed = self.failed_host
        if reason == Reason.EXITED and failed and failed.handle.oom_killed():
            self.attempt.oom_killed = True
        return reason

    def _analyse(self) -> None:
        for host in self.hosts:
            view = host.view
            if self.several:  # the job's times, this host's findings
                for name in ("training_started_at", "training_ended_at", "interrupted_at",
                             "grace_period", "planned_seconds", "outcome", "interruption",
                             "ended_at", "restored", "restored_siblings", "proof_seconds"):
                    setattr(view, name, getattr(self.attempt, name))
                view.exit_code = host.exit_code
            analyse(view, host.activity if self.uri else None, host.torn,
                    checkpoint_config=bool(self.uri),
                    local_files=count_checkpoint_files(host.dirs.checkpoints) if self.uri else 0)
        if self.several:
            merge_hosts(self.attempt, [h.view for h in self.hosts])

    def _as_restored(self) -> dict[str, KnownUpload]:
        """The restored files as the restore hashed them, signed before any container can
        write to them (one host: several share the prefix, and their proof reads it all)."""
        if self.restored is None or self.several:
            return {}
        return known_from_restore(self.restored, self.hosts[0].dirs.checkpoints)

    def _verify(self) -> None:
        """Prove (or disprove) that S3 now holds exactly the checkpoint directories."""
        if not self.uri:
            return
        client = self.ctx.s3.endpoint.client()  # the proof reads S3 without faults
        errors = [e for h in self.hosts for e in h.mirror_errors]
        started = self.clock.monotonic()
        try:
            if not self.several:
                mirror = self.hosts[0].mirror
                known = {**self.restored_known, **(mirror.known_uploads() if mirror else {})}
                differences = verify_mirror(client, self.uri, self.hosts[0].dirs.checkpoints, known)
            else:
                differences = verify_shared_prefix(
                    client, self.uri, {h.host: h.dirs.checkpoints for h in self.hosts},
                    self.attempt.restored, {p for h in self.hosts for p in h.view.deleted})
        except Exception as err:  # the proof failed, not the job
            differences = [f"could not compare: {err}"]
        self.attempt.proof_seconds = round(self.clock.monotonic() - started, 3)
        self.attempt.mirror_verified = not differences and not errors
        self.attempt.mirror_differences = (errors + differences)[:20]
        for host in self.hosts if self.several else []:  # each host's own view
            host.view.mirror_verified = not host.mirror_errors and not differences
            host.view.mirror_differences = (host.mirror_errors + differences)[:20]

    # -- watching -------------------------------------------------------------------
    def _watch(self) -> Reason:
        control, limits = self.ctx.control, self.ctx.limits
        used_before = sum(a.training_seconds for a in self.job.attempts[:-1])
        started = self.attempt.training_started_at or self.clock.now()
        while not self.exited.is_set():
            now = self.clock.now()
            if control.stop_requested:
                return Reason.STOP
            if (why := control.take_interrupt()) is not None:
                self.fire(why)
            if self.armed and self.fired is None and \
                    self.armed.on_time(now - started, now - self.job.creation_time):
                self.fire(self.armed.trigger.spec)
            if self.fired is not None:
                return Reason.INTERRUPT
            if used_before + now - started >= limits.max_runtime:
                return Reason.MAX_RUNTIME
            if limits.max_wait_exceeded():
                return Reason.MAX_WAIT
            control.pause(self.clock, POLL_SECONDS)
        return Reason.EXITED

    def _end_containers(self, reason: Reason) -> None:
        """SIGTERM, the grace period, SIGKILL (or SIGKILL at once for a hard interruption),
        for every host at the same time."""
        if reason != Reason.INTERRUPT:
            self.attempt.stopped_by = self.ctx.control.stopped_by if reason == Reason.STOP \
                else STOPPED_BY[reason]
            with self.ctx.lock:
                self.ctx.lifecycle.stopping()
        grace = self.ctx.settings.grace_period
        if reason == Reason.INTERRUPT and self.armed and self.fired == self.armed.trigger.spec:
            grace = self.armed.trigger.grace_period(grace)
        # The grace period is training time too: it may not outlast MaxRuntimeInSeconds.
        now = self.clock.now()
        used = self.ctx.limits.training_seconds_so_far()
        grace = max(0.0, min(grace, self.ctx.limits.max_runtime - used))
        start = self.clock.monotonic()  # a shutdown's budget caps the grace:
        grace = max(0.0, min(grace, self.ctx.control.grace_ends(start + grace) - start))
        self.attempt.grace_period = grace
        self.attempt.interrupted_at = now
        running = [h for h in self.hosts if not h.exited.is_set()]
        target = self._reclaimed_target(reason)
        if target is None:
            self._signal_and_wait(running, grace, lost=self.hosts)
        else:  # one host's instance first, then SageMaker stops the job
            self.reclaimed = target
            self._signal_and_wait([h for h in running if h is target], grace, lost=[target])
            gone_at = self.clock.now()
            peers = [h for h in running if h is not target]
            delay = target_delay(self.armed.trigger if self.armed else None)
            self._wait_while_running(peers, delay)
            stopped_at = self.clock.now()
            self._signal_and_wait([h for h in peers if not h.exited.is_set()],
                                  0.0 if self.ctx.control.killing else
                                  self.ctx.settings.grace_period, lost=[], record=False)
            note_reclaim(self.attempt, target.host, gone_at, stopped_at,
                         [(h.view, h.exit_code, h.exited_at) for h in peers])
        if self.several:
            self.attempt.sigkilled = any(h.view.sigkilled for h in self.hosts)

    def _reclaimed_target(self, reason: Reason) -> HostRun | None:
        """The host a `host=` trigger names, when it fired (a multi-instance job)."""
        if reason != Reason.INTERRUPT or not self.armed or not self.several or \
                self.fired != self.armed.trigger.spec or self.armed.trigger.host is None:
            return None
        return next((h for h in self.hosts if h.host == self.armed.trigger.host), None)

    def _wait_while_running(self, hosts: list[HostRun], seconds: float) -> list[HostRun]:
        """Up to `seconds` (less if the endpoint shuts down meanwhile: its budget caps every
        grace), while some of `hosts` still run; those still running."""
        deadline = self.clock.monotonic() + seconds
        running = [h for h in hosts if not h.exited.is_set()]
        while running and self.clock.monotonic() < self.ctx.control.grace_ends(deadline):
            self.clock.wait(running[0].exited, min(POLL_SECONDS, max(
                0.0, self.ctx.control.grace_ends(deadline) - self.clock.monotonic())))
            running = [h for h in running if not h.exited.is_set()]
        return running

    def _signal_and_wait(self, running: list[HostRun], grace: float, *,
                         lost: list[HostRun], record: bool = True) -> None:
        """SIGTERM, `grace`, SIGKILL to what is left (SIGKILL at once without a grace).
        `lost`: the hosts that vanish, so with "lose" nothing more leaves them from the kill.
        `record`: this is the attempt's grace period (cut short by a shutdown: say so)."""
        if grace > 0:
            for host in running:
                host.handle.send_signal(signal.SIGTERM)
            start = self.clock.monotonic()
            running = self._wait_while_running(running, grace)
            cut = self.ctx.control.grace_ends(start + grace)
            if record and cut < start + grace:  # the endpoint's shutdown ended it early
                self.attempt.grace_period = max(0.0, min(grace, cut - start))
        if running:
            self._sigkill(running, before_kill=lambda: self._stop_mirrors_if_lost(lost))

    def _kill_survivors(self) -> None:
        """A host failed: SageMaker ends the job, so the other hosts go down with it (SIGKILLed,
        and reported so: what they were writing is torn)."""
        running = [h for h in self.hosts if not h.exited.is_set()]
        if running:
            self._sigkill(running)
        for host in self.hosts:
            host.exited.wait(30)

    def _stop_mirrors_if_lost(self, hosts: list[HostRun]) -> None:
        if self.lose:
            for host in hosts:
                for mirror in (host.mirror, host.tensorboard):
                    if mirror:  # the hosts vanish: nothing more leaves them
                        mirror.stop(flush=False)

    def _sigkill(self, running: list[HostRun],
                 before_kill: Callable[[], None] | None = None) -> None:
        """SIGKILL `running` (what they were writing is torn) and settle who really died."""
        for host in running:
            if host.recorder:
                host.torn = host.recorder.writing_now()
        if before_kill:
            before_kill()
        self.killed_at = self.clock.now()
        for host in running:
            host.killed_at = self.killed_at
            host.handle.send_signal(signal.SIGKILL)
            host.view.sigkilled = True
        self._settle_kills(running)

    @staticmethod
    def _settle_kills(killed: list[HostRun]) -> None:
        """Wait for the SIGKILLed hosts; one whose exit code is not 137 (128 + SIGKILL) had
        ended by itself just before the kill arrived (a host failing at the same moment as
        another, or finishing): it was not killed."""
        for host in killed:
            host.exited.wait(30)
            if host.exit_code not in (KILLED_EXIT_CODE, None):
                host.view.sigkilled = False

    # -- observations from other threads ------------------------------------------
    def _pump_logs(self, host: HostRun) -> None:
        handle, writer = host.handle, host.writer
        assert writer is not None
        try:
            for line in handle.log_lines():
                now = self.clock.now()
                writer.write(line, now)
                self.ctx.metrics.observe(line, now)
                if self.armed and self.armed.on_log(line):
                    self.fire(self.armed.trigger.spec)
        except Exception as err:
            log.warning("log stream of %s ended: %s", handle.name, err)
        finally:
            with contextlib.suppress(Exception):
                host.exit_code = self._exit_code(handle)
            with self._exit_lock:
                host.exited_at = self.clock.now()
                host.exited.set()
                if host.failed and self._first_failure is None:
                    self._first_failure = host
                if host.failed or all(h.exited.is_set() for h in self.hosts):
                    self.exited.set()
            self.ctx.control.wake.set()

    def _exit_code(self, handle: Container) -> int | None:
        """Wait for the container's end (its log stream may end before it does, when the
        engine drops it); None only when it is gone without an exit code."""
        while True:
            code = handle.wait(timeout=None)
            if code is not None or not handle.is_running():
                return code
            self.clock.sleep(POLL_SECONDS)

    def _on_mirror_event(self, host: HostRun, event: MirrorEvent) -> None:
        tag = host.host if self.several else None
        if event.kind == "uploaded":
            upload = CheckpointFile(event.path, event.size, event.sha256, event.at, tag,
                                    event.modified_at, round(event.seconds, 3))
            host.view.uploaded.append(upload)
            if self.several:
                self.attempt.uploaded.append(upload)
            if self.armed and self.armed.on_upload() and not self.exited.is_set():
                self.fire(self.armed.trigger.spec)
        elif event.kind == "deleted":
            host.view.deleted.append(event.path)
            if self.several:
                self.attempt.deleted.append(f"{host.host}:{event.path}")

    def _on_write_started(self, path: str, count: int) -> None:
        if self.armed and self.armed.on_write_started():
            self.fire(self.armed.trigger.spec)
