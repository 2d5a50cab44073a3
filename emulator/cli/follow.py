"""Follow a running job from the client side: transitions, container logs, the final summary."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import click

from emulator.auth.signing import signed_request
from emulator.cli.progress import StatusProgress
from emulator.jobs.billing import savings_percent
from emulator.jobs.timeline import timeline
from emulator.report.s3_faults import fault_summary
from emulator.storage.logs import LogTail

TERMINAL = {"Completed", "Failed", "Stopped"}
FAST_POLL = 0.05


def emulator_report(endpoint_url: str, job_name: str) -> dict[str, Any]:
    try:
        request = signed_request(f"{endpoint_url}/_smemu/jobs/{job_name}")
        with urllib.request.urlopen(request, timeout=10) as r:
            return dict(json.loads(r.read()))
    except Exception:
        return {}


class ChangeWaiter:
    """Waits for the job's next change on the endpoint's long-poll (``GET
    /_smemu/jobs/NAME/changes``): woken by the change itself, where a poll would find it up to
    a poll interval later. An endpoint without it (an older smemu), or a wait that fails:
    sleeps from then on, as polling does."""

    def __init__(self, endpoint_url: str, job_name: str) -> None:
        self._url = f"{endpoint_url}/_smemu/jobs/{quote(job_name, safe='')}/changes"
        self._seen = 0  # the change count of the last answer
        self._available = True

    def __call__(self, timeout: float) -> None:
        if self._available:
            try:
                request = signed_request(f"{self._url}?after={self._seen}&timeout={timeout:.3f}")
                with urllib.request.urlopen(request, timeout=timeout + 10) as answer:
                    self._seen = int(json.loads(answer.read())["Version"])
                return
            except Exception:  # following the job must go on: by polling
                self._available = False
        time.sleep(timeout)


def transition_line(transition: dict[str, Any]) -> str:
    stamp: Any = transition.get("StartTime")
    clock = stamp.strftime("%H:%M:%S") if hasattr(stamp, "strftime") else ""
    return f"{clock} {transition['Status']:<20} {transition.get('StatusMessage', '')}"


class FollowState:
    """What has been printed already, so following again (after Ctrl-C) repeats nothing."""

    def __init__(self, logs: Any, job_name: str) -> None:
        self.tail = LogTail(logs, job_name)
        self.printed: list[str] = []  # the StatusMessage shown for each transition


def follow(sagemaker: Any, logs: Any, job_name: str, *, show_logs: bool = True,
           quiet: bool = False, poll: float = 0.5,
           on_tick: Callable[[], None] | None = None,
           state: FollowState | None = None,
           progress: StatusProgress | None = None,
           wait_for_change: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Print transitions (and logs) until the job ends; returns the final description.
    `progress` draws progress StatusMessages as live bars (on a terminal).

    SageMaker has no call that waits for a change, so this polls: every FAST_POLL seconds just
    after a change (a short job is over within a few), slowing down to `poll` while nothing
    changes. `wait_for_change(timeout)` (a ChangeWaiter) returns at the job's next change:
    without logs to show, each poll then waits for one (at most `poll` seconds)."""
    state = state or FollowState(logs, job_name)
    printed, tail = state.printed, state.tail
    interval, seen = FAST_POLL, None

    while True:
        if on_tick:
            on_tick()
        job = sagemaker.describe_training_job(TrainingJobName=job_name)
        transitions = job.get("SecondaryStatusTransitions", [])
        done = job["TrainingJobStatus"] in TERMINAL
        if not quiet:
            # Logs and transitions of one tick, printed in the order they happened.
            lines: list[tuple[float, str]] = []
            if show_logs:
                tail.poll(_collector(lines))
            for index, transition in enumerate(transitions):
                message = transition.get("StatusMessage", "")
                if index < len(printed) and printed[index] == message:
                    continue
                # A new transition, or a new StatusMessage for the current one (progress).
                at = transition["StartTime"].timestamp() if hasattr(
                    transition.get("StartTime"), "timestamp") else 0.0
                if index < len(printed):
                    printed[index] = message
                    if progress is not None and progress.show(message):
                        continue
                    # Sorted with its transition, before anything that came after it.
                    lines.append((at, click.style(f"    {message}", fg="cyan")))
                else:
                    printed.append(message)
                    lines.append((at, click.style("==> " + transition_line(transition),
                                                  fg="cyan", bold=True)))
                    if progress is not None:  # a transition seen first with its progress
                        progress.show(message)
            for _, line in sorted(lines, key=lambda item: item[0]):
                click.echo(line)
        if done:
            if progress is not None:
                progress.close()
            return dict(job)
        now_seen = (job["TrainingJobStatus"], len(transitions))
        interval = FAST_POLL if now_seen != seen else min(poll, interval * 1.5)
        seen = now_seen
        if wait_for_change is None:
            time.sleep(interval)
        else:  # the log lines come on no change: shown, they are polled as before
            wait_for_change(interval if show_logs and not quiet else poll)


def _collector(lines: list[tuple[float, str]]) -> Callable[[str, str, float], None]:
    def collect(stream: str, message: str, at: float) -> None:
        lines.append((at, _log_line(stream, message)))

    return collect


def _log_line(stream: str, message: str) -> str:
    host = stream.split("/", 1)[-1].rsplit("-", 1)[0]
    return click.style(f"[{host}] ", fg="blue") + message


def _host_rows(attempt: dict[str, Any]) -> list[str]:
    """Multi-instance attempts: one indented row per host under the attempt's row."""
    rows = []
    for host in attempt.get("Hosts") or []:
        outcome = f"exit {host.get('ExitCode')}" + (" (SIGKILL)" if host.get("SigKilled") else "")
        lost = host.get("LostTrainingSeconds")
        rows.append(
            f"  {host['Host']:>7}  {outcome:<20} {'':>8}  "
            f"{len(host.get('CheckpointsRestored', [])):>8}  "
            f"{len(host.get('CheckpointsUploaded', [])):>8}  "
            f"{'-' if lost is None else format(lost, '.1f'):>6}  {host.get('Resume') or '-'}"
        )
    return rows


def render_summary(job: dict[str, Any], report: dict[str, Any], *, detail: bool = True) -> str:
    """The end-of-job summary; `detail` adds the attempt table, flags and timeline."""
    training = int(job.get("TrainingTimeInSeconds", 0))
    billable = int(job.get("BillableTimeInSeconds", 0))
    every_attempt = report.get("Attempts", [])
    attempts = every_attempt if detail else []
    lines = [
        "",
        f"Job {job['TrainingJobName']}: {job['TrainingJobStatus']} ({job['SecondaryStatus']})",
    ]
    if job.get("FailureReason"):
        lines.append(f"  Failure reason: {job['FailureReason']}")
    lines.append(f"  Attempts: {len(every_attempt)}, "
                 f"interruptions: {report.get('Interruptions', 0)}")
    lines.append(f"  Training seconds: {training}, billable seconds: {billable}")
    if job.get("EnableManagedSpotTraining"):
        lines.append(f"  Managed Spot Training savings: {savings_percent(training, billable):.1f}%")
    if job.get("ModelArtifacts") and job["TrainingJobStatus"] in ("Completed", "Stopped"):
        lines.append(f"  Model: {job['ModelArtifacts']['S3ModelArtifacts']}")
    if attempts:
        lines.append("  attempt  outcome               train s  restored  uploaded  lost s  "
                     "resume                  interruption")
        for a in attempts:
            restored = a.get("CheckpointsRestored", [])
            uploaded = a.get("CheckpointsUploaded", [])
            outcome = str(a.get("Outcome") or "running")
            if a.get("SigKilled"):
                outcome += " (SIGKILL)"
            lost = a.get("LostTrainingSeconds")
            lines.append(
                f"  {a['Attempt']:>7}  {outcome:<20} {a.get('TrainingSeconds', 0):>8.1f}  "
                f"{len(restored):>8}  {len(uploaded):>8}  "
                f"{'-' if lost is None else format(lost, '.1f'):>6}  "
                f"{a.get('Resume') or '-':<22}  {a.get('Interruption') or '-'}"
            )
            lines.extend(_host_rows(a))
        for a in attempts:
            for flag in a.get("Flags", []):
                lines.append(click.style(f"  ! attempt {a['Attempt']}: {flag}", fg="yellow"))
    # The proof runs when an attempt ends: claim it for the ended attempts only.
    ended = [a for a in attempts if a.get("EndedAt") is not None]
    verified = [a.get("MirrorVerified") for a in ended if a.get("MirrorVerified") is not None]
    if verified and all(verified):
        where = "the union of the hosts' checkpoint directories" if any(
            a.get("Hosts") for a in attempts) else "the checkpoint directory"
        which = "every attempt" if len(ended) == len(attempts) else \
            f"every ended attempt ({len(ended)} of {len(attempts)}; the last is still running)"
        lines.append(f"  Checkpoints: S3 equals {where} after {which} "
                     "(path, size, sha256 manifest)")
    if attempts:
        lines.append("  timeline:")
        lines.extend(f"    {line}" for line in timeline(report))
    if (faults := fault_summary(report)) is not None:
        lines.append(f"  {faults}")
    if report.get("UnfiredTriggers"):
        lines.append("  Triggers never fired (the job ended first): "
                     + " ".join(report["UnfiredTriggers"]))
    return "\n".join(lines)
