"""Assertions on a finished job, each failing with what went wrong and what to change.

They raise AssertionError (so any test runner reports them as failures) and never import pytest.
"""

from __future__ import annotations

import itertools
from datetime import datetime

from emulator.testing.compare import compare_runs
from emulator.testing.result import AttemptResult, JobResult

MAX_NAMED = 5  # files named in a message before "and N more"


def assert_resumed(result: JobResult) -> None:
    """Every attempt that followed an interruption read the checkpoint restored for it."""
    followers = _after_interruptions(result)
    for previous, attempt in followers:
        for view, where in _views(attempt):
            problem = _resume_problem(previous, view)
            if problem:
                raise AssertionError(f"{result.name}: attempt {attempt.number}{where} {problem}")


def assert_lost_at_most(result: JobResult, seconds: float) -> None:
    """No interruption cost more than ``seconds`` of training since the last checkpoint upload."""
    _after_interruptions(result)
    for attempt in result.attempts:
        lost = attempt.lost_seconds
        if attempt.outcome != "interrupted" or lost is None or lost <= seconds:
            continue
        since = ("it uploaded no checkpoint before the interruption"
                 if attempt.report.get("LastUploadAt") is None
                 else f"its last checkpoint upload came {lost:.1f}s before it")
        raise AssertionError(
            f"{result.name}: attempt {attempt.number} lost {lost:.1f}s of training to its "
            f"interruption ({attempt.interruption or 'manual'}), more than the {seconds:g}s "
            f"allowed: {since}. Checkpoint more often, or on SIGTERM before exiting.")


def assert_no_overwrite_conflicts(result: JobResult) -> None:
    """No two hosts of a multi-instance job wrote the same checkpoint key (they share one
    S3 prefix, so the last upload would win)."""
    for attempt in result.attempts:
        if attempt.overwrite_conflicts:
            raise AssertionError(
                f"{result.name}: attempt {attempt.number}: "
                + _listed(list(attempt.overwrite_conflicts), separator="; "))


def assert_completed_within(result: JobResult, seconds: float) -> None:
    """The job Completed, and within ``seconds`` from its creation to its end (waits for
    capacity, interruptions and restores included)."""
    if result.status != "Completed":
        reason = f": {result.failure_reason}" if result.failure_reason else ""
        raise AssertionError(f"{result.name} ended {result.status} "
                             f"({result.secondary_status}) instead of Completed{reason}")
    created, ended = result.describe.get("CreationTime"), result.describe.get("TrainingEndTime")
    if created is None or ended is None:
        raise AssertionError(f"{result.name} has no CreationTime/TrainingEndTime to measure")
    took = _seconds(ended) - _seconds(created)
    if took > seconds:
        interrupted = sum(1 for a in result.attempts if a.outcome == "interrupted")
        lost = sum(a.lost_seconds or 0.0 for a in result.attempts)
        raise AssertionError(
            f"{result.name} took {took:.1f}s from creation to end, more than {seconds:g}s: "
            f"{len(result.attempts)} attempt(s), {interrupted} interruption(s), {lost:.1f}s of "
            "training lost to them")


def assert_same_as_uninterrupted(result: JobResult) -> None:
    """The job's model files (sha256) and final metrics equal those of the same request run
    with no interruption (`run_job(..., compare_uninterrupted=True)`)."""
    twin = result.uninterrupted
    if twin is None:
        raise AssertionError(f"{result.name} has no uninterrupted run to compare with: run it "
                             "with run_job(..., compare_uninterrupted=True)")
    for job in (result, twin):
        if job.status != "Completed":
            reason = f": {job.failure_reason}" if job.failure_reason else ""
            raise AssertionError(f"cannot compare models: {job.name} ended {job.status}{reason}")
    comparison = compare_runs(result, twin)
    if not comparison.identical:
        raise AssertionError(
            f"{result.name} trained a different model than the uninterrupted {twin.name}:\n"
            f"{comparison.describe()}\nIt resumed, but not exactly: restore everything the "
            "training depends on (optimizer state, RNG state, data position), not only the "
            "weights.")


def _after_interruptions(result: JobResult) -> list[tuple[AttemptResult, AttemptResult]]:
    """(interrupted attempt, the attempt after it) pairs; none is a mistake in the test."""
    if not any(a.outcome == "interrupted" for a in result.attempts):
        unfired = result.unfired_triggers
        why = (f"its plan's triggers never fired: {', '.join(unfired)}" if unfired else
               "it had no interruption plan (interrupt=[...], on a spot job)")
        raise AssertionError(f"{result.name} was never interrupted, so there is nothing to "
                             f"check: {why} (it ended {result.status})")
    return [(a, b) for a, b in itertools.pairwise(result.attempts)
            if a.outcome == "interrupted"]


def _views(attempt: AttemptResult) -> list[tuple[AttemptResult, str]]:
    """The attempt as each host saw it (multi-instance), else the attempt itself."""
    if not attempt.hosts:
        return [(attempt, "")]
    if attempt.resume == "resumed":  # one rank that loads and broadcasts is enough
        return [(attempt, "")]
    return [(host, f" on {host.host}") for host in attempt.hosts]


def _resume_problem(previous: AttemptResult, attempt: AttemptResult) -> str | None:
    restored = [f.path for f in attempt.restored]
    if attempt.resume == "resumed":
        return None
    if attempt.resume == "restarted-from-scratch":
        return ("restarted from scratch: it never read the restored "
                f"{_listed(restored)} (load the checkpoint from the checkpoint directory "
                "before training)")
    if attempt.resume == "fresh-start":
        if not previous.uploaded:
            return (f"started fresh: nothing was restored, because attempt {previous.number} "
                    "uploaded no checkpoint before its interruption (write checkpoints into "
                    "the checkpoint directory, /opt/ml/checkpoints by default, while training)")
        return (f"started fresh: nothing was restored although attempt {previous.number} "
                f"uploaded {_listed([f.path for f in previous.uploaded])} (did the script "
                "delete its checkpoints, or does the job use another CheckpointConfig.S3Uri?)")
    return (f"resume could not be verified ({attempt.resume}): no reads of the restored "
            f"{_listed(restored)} were observed")


def _listed(items: list[str], separator: str = ", ") -> str:
    named = separator.join(items[:MAX_NAMED])
    more = len(items) - MAX_NAMED
    return f"{named} and {more} more" if more > 0 else named


def _seconds(stamp: datetime | float) -> float:
    """boto3 gives datetimes; a raw wire response gives epoch seconds."""
    return stamp.timestamp() if isinstance(stamp, datetime) else float(stamp)
