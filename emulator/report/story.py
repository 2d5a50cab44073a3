"""`JobStory`: what every view of a job renders from, and the numbers they all show."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class LogLine:
    at: float
    message: str


@dataclass(frozen=True)
class JobStory:
    """One job as its views show it.

    ``describe``: the DescribeTrainingJob response (times as epoch seconds); ``report``: the
    emulator's report (``GET /_smemu/jobs/NAME``: settings, attempts, interruptions);
    ``versions``: the checkpoint objects and their versions (``ObjectVersion.to_json()``);
    ``logs``: each log stream's lines; ``log_links``: where each stream can be read live.
    """

    describe: Mapping[str, Any]
    report: Mapping[str, Any]
    versions: list[dict[str, Any]] = field(default_factory=list)
    versioned: bool = False
    logs: dict[str, list[LogLine]] = field(default_factory=dict)
    log_links: dict[str, str] = field(default_factory=dict)
    endpoint_url: str | None = None
    notes: list[str] = field(default_factory=list)  # what could not be gathered, and why
    generated_at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, describe: Mapping[str, Any], report: Mapping[str, Any],
           **kwargs: Any) -> JobStory:
        """A story from responses as boto3 returns them (datetimes) or as JSON (epoch)."""
        described = epoch_times(dict(describe))
        described.pop("ResponseMetadata", None)
        return cls(described, epoch_times(dict(report)), **kwargs)

    # -- the numbers every view shows -------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.describe.get("TrainingJobName", ""))

    @property
    def status(self) -> str:
        return str(self.describe.get("TrainingJobStatus", ""))

    @property
    def secondary_status(self) -> str:
        return str(self.describe.get("SecondaryStatus", ""))

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return list(self.report.get("Attempts") or [])

    @property
    def interruptions(self) -> int:
        return int(self.report.get("Interruptions") or 0)

    @property
    def training_seconds(self) -> int:
        return int(self.describe.get("TrainingTimeInSeconds") or 0)

    @property
    def billable_seconds(self) -> int:
        return int(self.describe.get("BillableTimeInSeconds") or 0)

    @property
    def spot(self) -> bool:
        return bool(self.describe.get("EnableManagedSpotTraining"))

    @property
    def instance_count(self) -> int:
        return int((self.describe.get("ResourceConfig") or {}).get("InstanceCount") or 1)

    @property
    def finished(self) -> bool:
        return self.status in ("Completed", "Failed", "Stopped")

    def to_json(self) -> dict[str, Any]:
        """The story as `smemu run --json` prints a job: DescribeTrainingJob + SmemuReport."""
        return {**self.describe, "SmemuReport": dict(self.report)}


def epoch_times(value: Any) -> Any:
    """`value` with every datetime replaced by its epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Mapping):
        return {k: epoch_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [epoch_times(v) for v in value]
    return value


def host_views(attempt: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The attempt as each host saw it: its `Hosts` (multi-instance), else itself as algo-1."""
    hosts = attempt.get("Hosts") or []
    if hosts:
        return [dict(h) for h in hosts]
    return [{**attempt, "Host": attempt.get("Host") or "algo-1"}]


def conflict_paths(attempt: Mapping[str, Any]) -> set[str]:
    """The checkpoint paths several hosts wrote to the same S3 key in this attempt."""
    return {c.split(" written by ", 1)[0] for c in attempt.get("OverwriteConflicts") or []}
