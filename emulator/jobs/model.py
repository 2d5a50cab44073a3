"""The job's history: one structure of attempts and events that every report renders from."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from emulator.contract import JobStatus, SecondaryStatus
from emulator.jobs.spec import JobSpec


class Outcome(str, Enum):
    """How an attempt ended."""

    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    NEVER_LAUNCHED = "never-launched"  # stopped before its container ran
    HOST_FAILURE = "host-failure"  # a host was lost: an internal failure, retried or not


class ResumeVerdict(str, Enum):
    """Whether an attempt's training went on from the checkpoints restored into it."""

    RESUMED = "resumed"  # it read a restored checkpoint file
    RESTARTED_FROM_SCRATCH = "restarted-from-scratch"  # it read none of them
    FRESH_START = "fresh-start"  # nothing was restored
    UNKNOWN = "unknown"  # reads could not be observed


@dataclass
class StatusTransition:
    status: SecondaryStatus
    start_time: float
    message: str
    end_time: float | None = None

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Status": self.status.value,
            "StartTime": self.start_time,
            "StatusMessage": self.message,
        }
        if self.end_time is not None:
            out["EndTime"] = self.end_time
        return out


@dataclass
class CheckpointFile:
    path: str
    size: int
    sha256: str | None = None
    at: float | None = None
    host: str | None = None  # which host uploaded it (multi-instance jobs)
    written_at: float | None = None  # an upload's content was last written then (its mtime)
    seconds: float | None = None  # an upload's own duration (it ended `at`)


@dataclass
class Span:
    """A stretch of wall time, e.g. a wait for spot capacity."""

    start: float
    end: float


@dataclass
class Attempt:
    """One launch of the job's container(s): a spot restart opens a new attempt."""

    number: int
    started_at: float
    training_started_at: float | None = None
    training_ended_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    outcome: Outcome | None = None
    oom_killed: bool = False  # the kernel's OOM killer ended the container that failed
    interruption: str | None = None  # the trigger that fired, e.g. "after=30s"
    # What ended it when it was stopped, not interrupted: StopTrainingJob,
    # MaxRuntimeInSeconds or MaxWaitTimeInSeconds.
    stopped_by: str | None = None
    restored: list[CheckpointFile] = field(default_factory=list)
    # Prefixes beside the checkpoint S3Uri (no trailing /) whose objects a string-prefix
    # restore brought down too: s3://b/ASHA-10 for s3://b/ASHA-1.
    restored_siblings: list[str] = field(default_factory=list)
    restore_started_at: float | None = None
    restore_seconds: float | None = None  # how long the restore of `restored` took
    # Waits for spot capacity: before this attempt launched, or after it was interrupted.
    capacity_waits: list[Span] = field(default_factory=list)
    uploaded: list[CheckpointFile] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    sigkilled: bool = False  # the container outlived its grace period
    log_stream: str | None = None
    interrupted_at: float | None = None  # when the interruption signal was sent
    planned_seconds: float | None = None  # a random trigger's drawn training time
    grace_period: float | None = None
    # Resume verification (see jobs/resume.py).
    resume: ResumeVerdict | None = None
    restored_read: list[str] = field(default_factory=list)
    written_in_place: list[str] = field(default_factory=list)  # not temp file + rename
    torn: list[str] = field(default_factory=list)  # being written when the container died
    written_in_grace: list[str] = field(default_factory=list)
    last_upload_at: float | None = None  # the upload of the newest checkpoint (lost work)
    last_checkpoint_at: float | None = None  # when that checkpoint was written
    lost_seconds: float | None = None
    flags: list[str] = field(default_factory=list)
    mirror_verified: bool | None = None  # S3 == checkpoint dir after the attempt (manifest)
    mirror_differences: list[str] = field(default_factory=list)
    proof_seconds: float | None = None  # how long that end-of-attempt proof took
    # Multi-instance jobs: the attempt as each host saw it (same fields, host set), and the
    # S3 keys several hosts wrote over each other.
    host: str | None = None
    hosts: list[Attempt] = field(default_factory=list)
    # A host= trigger: the host whose spot instance was reclaimed, and (on each peer's view)
    # what that peer did then: ended by itself, or ran on until the job stopped it.
    reclaimed_host: str | None = None
    after_reclaim: str | None = None
    conflicts: list[str] = field(default_factory=list)
    # The checkpoint mirror's final flush as it goes (FlushProgress.snapshot): files, bytes.
    checkpoint_flush: dict[str, Any] | None = None

    def record_flush(self, flush: dict[str, Any] | None) -> None:
        """The mirror's flush progress, replaced whole (readers never see it half updated)."""
        self.checkpoint_flush = flush

    @property
    def training_seconds(self) -> float:
        if self.training_started_at is None:
            return 0.0
        end = self.training_ended_at
        if end is None:
            return 0.0
        return max(0.0, end - self.training_started_at)

    def to_dict(self) -> dict[str, Any]:
        out = self._fields()
        if self.host is not None:
            out["Host"] = self.host
        if self.hosts:
            # How the attempt ended is the same for every host, and is settled (completed,
            # failed, stopped) after the hosts' views were filled in.
            shared = {"Outcome": _value(self.outcome), "EndedAt": self.ended_at}
            out["Hosts"] = [h._fields() | shared | {"Host": h.host} for h in self.hosts]
            out["OverwriteConflicts"] = list(self.conflicts)
        return out

    def _fields(self) -> dict[str, Any]:
        return {
            "Attempt": self.number,
            "StartedAt": self.started_at,
            "TrainingStartedAt": self.training_started_at,
            "TrainingEndedAt": self.training_ended_at,
            "EndedAt": self.ended_at,
            "TrainingSeconds": round(self.training_seconds, 3),
            "ExitCode": self.exit_code,
            "Outcome": _value(self.outcome),
            "Interruption": self.interruption,
            "StoppedBy": self.stopped_by,
            "SigKilled": self.sigkilled,
            "OomKilled": self.oom_killed,
            "LogStream": self.log_stream,
            "CheckpointsRestored": [_file_dict(f) for f in self.restored],
            "RestoredSiblingPrefixes": list(self.restored_siblings),
            "RestoreStartedAt": self.restore_started_at,
            "RestoreSeconds": None if self.restore_seconds is None
            else round(self.restore_seconds, 3),
            "CapacityWaits": [{"Start": w.start, "End": w.end} for w in self.capacity_waits],
            "CheckpointsUploaded": [_file_dict(f) for f in self.uploaded],
            "CheckpointsDeleted": list(self.deleted),
            "InterruptedAt": self.interrupted_at,
            "PlannedAfterSeconds": self.planned_seconds,
            "GracePeriodSeconds": self.grace_period,
            "Resume": _value(self.resume),
            "RestoredFilesRead": list(self.restored_read),
            "WrittenInPlace": list(self.written_in_place),
            "TornFiles": list(self.torn),
            "WrittenDuringGrace": list(self.written_in_grace),
            "LastUploadAt": self.last_upload_at,
            "LastCheckpointWrittenAt": self.last_checkpoint_at,
            "LostTrainingSeconds": None if self.lost_seconds is None
            else round(self.lost_seconds, 3),
            "Flags": list(self.flags),
            "MirrorVerified": self.mirror_verified,
            "MirrorDifferences": list(self.mirror_differences),
            "ProofSeconds": self.proof_seconds,
            "CheckpointFlush": self.checkpoint_flush,
            "ReclaimedHost": self.reclaimed_host,
            "AfterReclaim": self.after_reclaim,
        }


def _value(member: Enum | None) -> Any:
    return None if member is None else member.value


def _file_dict(f: CheckpointFile) -> dict[str, Any]:
    out = vars(f).copy()
    for unset in ("host", "seconds"):  # not a multi-instance job's; a restored file's
        if out.get(unset) is None:
            out.pop(unset, None)
    return out


@dataclass
class TrainingJob:
    spec: JobSpec
    arn: str
    creation_time: float
    status: JobStatus = JobStatus.IN_PROGRESS
    secondary_status: SecondaryStatus = SecondaryStatus.STARTING
    transitions: list[StatusTransition] = field(default_factory=list)
    last_modified_time: float = 0.0
    training_start_time: float | None = None
    training_end_time: float | None = None
    failure_reason: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    final_metrics: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    # s3://.../output/model.tar.gz once it was written; until then (and for a job that never
    # wrote one: failed, never launched) DescribeTrainingJob has no ModelArtifacts.
    model_artifacts: str | None = None
    # What `smemu:s3-faults` did to the job's own S3 traffic (S3FaultCounts.to_dict()).
    s3_faults: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def request(self) -> Mapping[str, Any]:
        """The CreateTrainingJob request as received (DescribeTrainingJob echoes it)."""
        return self.spec.request

    @property
    def is_spot(self) -> bool:
        return self.spec.spot

    @property
    def current_attempt(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None
