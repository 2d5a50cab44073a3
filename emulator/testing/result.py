"""What a finished job left to assert on: its description, its attempts, its logs, its model."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.faults.s3_injector import S3FaultCounts
from emulator.storage.logs import LogTail
from emulator.storage.s3 import split_s3_uri

if TYPE_CHECKING:
    from emulator.testing.endpoint import Endpoint


@dataclass(frozen=True)
class TransferredFile:
    """A checkpoint file one attempt restored from S3 or uploaded to it."""

    path: str  # relative to the checkpoint directory
    size: int
    sha256: str | None = None
    at: float | None = None  # epoch seconds
    host: str | None = None  # which host (multi-instance jobs)

    @classmethod
    def from_report(cls, doc: dict[str, Any]) -> TransferredFile:
        return cls(path=str(doc["path"]), size=int(doc.get("size") or 0),
                   sha256=doc.get("sha256"), at=doc.get("at"), host=doc.get("host"))


@dataclass(frozen=True)
class AttemptResult:
    """One launch of the job's containers (a spot restart opens the next attempt)."""

    number: int
    outcome: str | None  # completed | failed | interrupted | stopped | never-launched
    resume: str | None  # resumed | restarted-from-scratch | fresh-start | unknown
    lost_seconds: float | None  # training since the newest checkpoint in S3 was written, lost
    flags: tuple[str, ...]  # what the emulator found risky, in words
    restored: tuple[TransferredFile, ...]
    uploaded: tuple[TransferredFile, ...]
    restored_read: tuple[str, ...]  # restored files the script read before replacing them
    interruption: str | None  # the trigger that fired, e.g. "checkpoint=1"
    sigkilled: bool  # outlived its grace period
    exit_code: int | None
    host: str | None
    hosts: tuple[AttemptResult, ...]  # multi-instance jobs: each host's view
    overwrite_conflicts: tuple[str, ...]  # S3 keys several hosts wrote over each other
    report: dict[str, Any] = field(repr=False, compare=False)  # the whole /_smemu/ entry

    @classmethod
    def from_report(cls, doc: dict[str, Any]) -> AttemptResult:
        return cls(
            number=int(doc.get("Attempt") or 0), outcome=doc.get("Outcome"),
            resume=doc.get("Resume"), lost_seconds=doc.get("LostTrainingSeconds"),
            flags=tuple(doc.get("Flags") or ()),
            restored=tuple(TransferredFile.from_report(f)
                           for f in doc.get("CheckpointsRestored") or ()),
            uploaded=tuple(TransferredFile.from_report(f)
                           for f in doc.get("CheckpointsUploaded") or ()),
            restored_read=tuple(doc.get("RestoredFilesRead") or ()),
            interruption=doc.get("Interruption"), sigkilled=bool(doc.get("SigKilled")),
            exit_code=doc.get("ExitCode"), host=doc.get("Host"),
            hosts=tuple(cls.from_report(h) for h in doc.get("Hosts") or ()),
            overwrite_conflicts=tuple(doc.get("OverwriteConflicts") or ()),
            report=doc,
        )


class JobResult:
    """A training job as it ended: `.status`, `.describe` (the DescribeTrainingJob response),
    `.attempts`, `.logs()` and `.model_files()`."""

    def __init__(self, endpoint: Endpoint, describe: dict[str, Any],
                 report: dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.describe = describe
        self.report = report  # the emulator's report (GET /_smemu/jobs/NAME)
        self.attempts = tuple(AttemptResult.from_report(a) for a in report.get("Attempts") or ())
        self._logs: str | None = None
        # The same request run with no interruption plan (run_job(compare_uninterrupted=True)).
        self.uninterrupted: JobResult | None = None

    def __repr__(self) -> str:
        return (f"JobResult(name={self.name!r}, status={self.status!r}, "
                f"attempts={[a.outcome for a in self.attempts]})")

    @property
    def name(self) -> str:
        return str(self.describe["TrainingJobName"])

    @property
    def status(self) -> str:
        """Completed, Failed or Stopped."""
        return str(self.describe["TrainingJobStatus"])

    @property
    def secondary_status(self) -> str:
        return str(self.describe["SecondaryStatus"])

    @property
    def failure_reason(self) -> str | None:
        return self.describe.get("FailureReason")

    @property
    def statuses(self) -> list[str]:
        """The SecondaryStatusTransitions, in order (Starting, Downloading, Training, ...)."""
        return [t["Status"] for t in self.describe.get("SecondaryStatusTransitions", [])]

    @property
    def s3_faults(self) -> S3FaultCounts | None:
        """What `s3_faults=` did to the job's own S3 traffic (faults by kind, retries, delay);
        None for a job without S3 faults on its mirror."""
        return S3FaultCounts.of_report(self.report)

    @property
    def unfired_triggers(self) -> list[str]:
        """Triggers of the interruption plan that never fired."""
        return list(self.report.get("UnfiredTriggers") or [])

    def logs(self) -> str:
        """The containers' output (every attempt and host, in the order the streams began)."""
        if self._logs is None:
            lines: list[str] = []
            LogTail(self.endpoint.client("logs"), self.name).poll(
                lambda _stream, message, _at: lines.append(message))
            self._logs = "\n".join(lines)
        return self._logs

    def model_files(self) -> dict[str, bytes]:
        """The files of the job's model.tar.gz, by their path inside it."""
        uri = self.describe["ModelArtifacts"]["S3ModelArtifacts"]
        return read_tar_gz(self.endpoint.s3_client(), uri)


def read_tar_gz(s3: Any, uri: str) -> dict[str, bytes]:
    """The regular files of a .tar.gz object on S3, by their path inside it."""
    bucket, key = split_s3_uri(uri)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[member.name] = extracted.read()
    return files
