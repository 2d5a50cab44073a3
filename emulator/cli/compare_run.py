"""`smemu run --compare-uninterrupted`: the same request also runs with no interruption plan,
and the two jobs' model files (sha256) and final metrics are compared at the end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.testing.compare import compare_runs
from emulator.testing.endpoint import Endpoint
from emulator.testing.jobs import read_result, wait_for_job


@dataclass(frozen=True)
class RunComparison:
    uninterrupted_job: str
    result: str  # "identical", "different" or "not-compared"
    differences: tuple[str, ...] = ()  # what differs, one line each (or why not compared)

    def as_json(self) -> dict[str, Any]:
        return {"UninterruptedJob": self.uninterrupted_job, "Result": self.result,
                "Differences": list(self.differences)}

    def render(self) -> str:
        head = f"  Compared with the uninterrupted run {self.uninterrupted_job}: {self.result}"
        return "\n".join([head, *(f"    {line}" for line in self.differences)])


def compare_with_uninterrupted(url: str, job: dict[str, Any], twin_name: str) -> RunComparison:
    """Wait for the uninterrupted twin, then compare it with the finished ``job``."""
    endpoint = Endpoint.connect(url)
    twin = wait_for_job(endpoint, twin_name)
    ours = read_result(endpoint, str(job["TrainingJobName"]), job)
    not_completed = [f"{r.name} ended {r.status}" + (f": {r.failure_reason}"
                                                     if r.failure_reason else "")
                     for r in (ours, twin) if r.status != "Completed"]
    if not_completed:
        return RunComparison(twin_name, "not-compared", tuple(not_completed))
    comparison = compare_runs(ours, twin)
    if comparison.identical:
        return RunComparison(twin_name, "identical")
    return RunComparison(twin_name, "different", tuple(comparison.describe().splitlines()))
