"""One attempt of a job: start the container, mirror checkpoints, watch triggers, end it."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING

from emulator.checkpoints import CheckpointMirror, MirrorEvent, verify_mirror
from emulator.checkpoints.activity import Activity, ActivityRecorder
from emulator.faults.arming import ArmedTrigger
from emulator.jobs.model import Attempt, CheckpointFile
from emulator.jobs.resume import analyse
from emulator.runtime.engine import ContainerHandle
from emulator.runtime.staging import HostDirs
from emulator.storage.logs import CloudWatchLogWriter, log_stream_name

if TYPE_CHECKING:
    from emulator.jobs.runner import JobRunner

log = logging.getLogger(__name__)
POLL_SECONDS = 0.2


class Reason:
    EXITED = "exited"
    INTERRUPT = "interrupt"
    STOP = "stop"
    MAX_RUNTIME = "max-runtime"
    MAX_WAIT = "max-wait"


class AttemptRun:
    def __init__(self, runner: JobRunner, attempt: Attempt, dirs: HostDirs,
                 armed: ArmedTrigger | None) -> None:
        self.runner = runner
        self.job = runner.job
        self.attempt = attempt
        self.dirs = dirs
        self.armed = armed
        self.exited = threading.Event()
        self.fired: str | None = None  # the spec of the trigger that fired
        self.torn: set[str] = set()
        self.lose = False  # checkpoint flush policy "lose" applies to this ending
        self.killed_at: float | None = None
        self.uri = (self.job.request.get("CheckpointConfig") or {}).get("S3Uri")

    def fire(self, spec: str) -> None:
        if self.fired is None:
            self.fired = spec
            self.runner.wake.set()

    def run(self) -> str:
        """Runs the container to its end; returns a Reason."""
        ctx = self.runner.ctx
        mirror = CheckpointMirror(self.dirs.checkpoints, self.uri, ctx.s3.client(),
                                  markers=self.runner.settings.checkpoint_markers,
                                  on_event=self._on_mirror_event) if self.uri else None
        stream = log_stream_name(self.job.name, "algo-1", time.time())
        self.attempt.log_stream = stream
        writer = CloudWatchLogWriter(ctx.logs.client("logs"), stream)
        recorder: ActivityRecorder | None = None
        activity: Activity | None = None
        handle: ContainerHandle | None = None
        writer.start()
        try:
            if mirror:
                mirror.start()
                recorder = ActivityRecorder(self.dirs.checkpoints, self._on_write_started).start()
            with self.runner.lock:
                self.runner.lifecycle.training()
            handle = ctx.engine.start(self.runner.container_spec(self.dirs, self.attempt))
            pump = threading.Thread(target=self._pump_logs, args=(handle, writer), daemon=True)
            pump.start()
            reason = self._watch()
            self.lose = reason == Reason.INTERRUPT and \
                self.runner.settings.checkpoint_flush == "lose"
            if self.armed and self.armed.trigger.kind == "random":
                self.attempt.planned_seconds = round(self.armed.random_delay, 3)
            if reason != Reason.EXITED:
                self._end_container(handle, reason, recorder, mirror)
            exit_code = handle.wait(timeout=30)
            pump.join(timeout=10)
            with self.runner.lock:
                self.runner.lifecycle.container_ended(exit_code, self.attempt.sigkilled)
            if recorder:
                activity = recorder.stop()
            if mirror:
                report = mirror.stop(flush=not self.lose)
                self._verify(report.errors)
            if reason == Reason.INTERRUPT and self.job.stop_requested:
                # StopTrainingJob during the interruption's grace: the job stops (and its
                # model is uploaded) instead of waiting for another attempt.
                reason = Reason.STOP
                with self.runner.lock:
                    self.runner.lifecycle.stopping()
            elif reason == Reason.INTERRUPT:
                with self.runner.lock:
                    self.runner.lifecycle.interrupted(self.fired or "manual")
            if reason == Reason.EXITED and exit_code not in (0, None) and handle.oom_killed():
                self.attempt.outcome = "oom"
            if activity is not None and self.killed_at is not None:
                # SIGKILLed writers cannot close their files: the kernel does, after the kill.
                self.torn |= {p for p, at in activity.last_closed.items() if at >= self.killed_at}
            analyse(self.attempt, activity if self.uri else None, self.torn)
            return reason
        finally:
            if recorder:
                recorder.stop()
            if mirror:
                mirror.stop(flush=False)
            if handle:
                handle.remove()
            writer.close()

    def _verify(self, errors: list[str]) -> None:
        """Prove (or disprove) that S3 now holds exactly the checkpoint directory."""
        if not self.uri:
            return
        try:
            differences = verify_mirror(self.runner.ctx.s3.client(), self.uri,
                                        self.dirs.checkpoints)
        except Exception as err:  # the proof failed, not the job
            differences = [f"could not compare: {err}"]
        self.attempt.mirror_verified = not differences and not errors
        self.attempt.mirror_differences = (errors + differences)[:20]

    # -- watching -------------------------------------------------------------------
    def _watch(self) -> str:
        runner = self.runner
        used_before = sum(a.training_seconds for a in self.job.attempts[:-1])
        started = self.attempt.training_started_at or time.time()
        while not self.exited.is_set():
            now = time.time()
            if self.job.stop_requested:
                return Reason.STOP
            if runner.interrupt_requested:
                self.fire(runner.interrupt_requested)
                runner.interrupt_requested = None
            if self.armed and self.fired is None and \
                    self.armed.on_time(now - started, now - self.job.creation_time):
                self.fire(self.armed.trigger.spec)
            if self.fired is not None:
                return Reason.INTERRUPT
            if used_before + now - started >= runner.max_runtime:
                return Reason.MAX_RUNTIME
            if runner.max_wait_exceeded():
                return Reason.MAX_WAIT
            runner.wake.wait(POLL_SECONDS)
            runner.wake.clear()
        return Reason.EXITED

    def _end_container(self, handle: ContainerHandle, reason: str,
                       recorder: ActivityRecorder | None, mirror: CheckpointMirror | None) -> None:
        """SIGTERM, the grace period, SIGKILL (or SIGKILL at once for a hard interruption)."""
        if reason != Reason.INTERRUPT:
            with self.runner.lock:
                self.runner.lifecycle.stopping()
        grace = self.runner.settings.grace_period
        if reason == Reason.INTERRUPT and self.armed and self.fired == self.armed.trigger.spec:
            grace = self.armed.trigger.grace_period(grace)
        # The grace period is training time too: it may not outlast MaxRuntimeInSeconds.
        used = self.runner.training_seconds_used() + time.time() - \
            (self.attempt.training_started_at or time.time())
        grace = max(0.0, min(grace, self.runner.max_runtime - used))
        if self.runner.killing.is_set():
            grace = 0.0
        self.attempt.grace_period = grace
        self.attempt.interrupted_at = time.time()
        if grace > 0:
            handle.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and not self.runner.killing.is_set():
                if self.exited.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
                    return
        if recorder:
            self.torn = recorder.writing_now()
        if mirror and self.lose:
            mirror.stop(flush=False)  # the host vanishes: nothing more leaves it
        self.killed_at = time.time()
        handle.send_signal(signal.SIGKILL)
        self.attempt.sigkilled = True
        self.exited.wait(30)

    # -- observations from other threads ------------------------------------------
    def _pump_logs(self, handle: ContainerHandle, writer: CloudWatchLogWriter) -> None:
        try:
            for line in handle.log_lines():
                now = time.time()
                writer.write(line, now)
                self.runner.metrics.observe(line, now)
                if self.armed and self.armed.on_log(line):
                    self.fire(self.armed.trigger.spec)
        except Exception as err:
            log.warning("log stream of %s ended: %s", handle.name, err)
        finally:
            with contextlib.suppress(Exception):
                handle.wait(timeout=None)
            self.exited.set()
            self.runner.wake.set()

    def _on_mirror_event(self, event: MirrorEvent) -> None:
        if event.kind == "uploaded":
            self.attempt.uploaded.append(
                CheckpointFile(event.path, event.size, event.sha256, event.at))
            if self.armed and self.armed.on_upload() and not self.exited.is_set():
                self.fire(self.armed.trigger.spec)
        elif event.kind == "deleted":
            self.attempt.deleted.append(event.path)

    def _on_write_started(self, path: str, count: int) -> None:
        if self.armed and self.armed.on_write_started():
            self.fire(self.armed.trigger.spec)
