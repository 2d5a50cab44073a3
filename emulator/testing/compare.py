"""Did the interrupted job train the same model as an uninterrupted run of the same request?

Reading a checkpoint is not resuming correctly: a script that restores its weights but not its
optimizer, RNG or data position resumes, yet trains a different model. Compared: the files of
model.tar.gz (sha256) and the final metrics (FinalMetricDataList).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from emulator.testing.result import JobResult


@dataclass(frozen=True)
class Comparison:
    differing_files: tuple[str, ...] = ()  # "model.json (sha256 1a2b3c4d… vs 5e6f7a8b…)"
    missing_files: tuple[str, ...] = ()  # "weights.bin: only in the uninterrupted run's model"
    differing_metrics: tuple[str, ...] = ()  # "loss: 0.31 vs 0.29 (differs by 0.02)"

    @property
    def identical(self) -> bool:
        return not (self.differing_files or self.missing_files or self.differing_metrics)

    def describe(self) -> str:
        """"identical", or every difference, one per line."""
        if self.identical:
            return "identical"
        return "\n".join([*self.differing_files, *self.missing_files, *self.differing_metrics])


def compare_runs(interrupted: JobResult, uninterrupted: JobResult) -> Comparison:
    """Model files and final metrics of two finished jobs, side by side."""
    ours, theirs = interrupted.model_files(), uninterrupted.model_files()
    differing = []
    for path in sorted(ours.keys() & theirs.keys()):
        a, b = _sha256(ours[path]), _sha256(theirs[path])
        if a != b:
            differing.append(f"{path} (sha256 {a[:8]}… vs {b[:8]}… uninterrupted)")
    missing = [f"{path}: only in the interrupted run's model" for path in
               sorted(ours.keys() - theirs.keys())]
    missing += [f"{path}: only in the uninterrupted run's model" for path in
                sorted(theirs.keys() - ours.keys())]
    return Comparison(tuple(differing), tuple(missing),
                      tuple(_metric_differences(_metrics(interrupted.describe),
                                                _metrics(uninterrupted.describe))))


def _metric_differences(ours: dict[str, float], theirs: dict[str, float]) -> list[str]:
    out = []
    for name in sorted(ours.keys() | theirs.keys()):
        a, b = ours.get(name), theirs.get(name)
        if a is None or b is None:
            where = "uninterrupted" if a is None else "interrupted"
            out.append(f"metric {name}: only the {where} run reported it")
        elif a != b:
            out.append(f"metric {name}: {a:g} vs {b:g} uninterrupted (differs by {a - b:+g})")
    return out


def _metrics(describe: dict[str, Any]) -> dict[str, float]:
    return {str(m["MetricName"]): float(m["Value"])
            for m in describe.get("FinalMetricDataList") or ()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
