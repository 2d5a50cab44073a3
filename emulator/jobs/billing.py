"""TrainingTimeInSeconds and BillableTimeInSeconds from a job's attempts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: `smemu run` prints savings_percent without the job model
    from emulator.jobs.model import TrainingJob


def training_seconds(job: TrainingJob) -> int:
    """Compute time across every attempt (what AWS charges before the spot discount)."""
    return math.ceil(sum(a.training_seconds for a in job.attempts))


def billable_seconds(job: TrainingJob, spot_price_ratio: float) -> int:
    """Training seconds after the spot discount; on-demand jobs pay the full time."""
    seconds = training_seconds(job)
    if not job.is_spot:
        return seconds
    return math.ceil(seconds * spot_price_ratio)


def savings_percent(training: int, billable: int) -> float:
    """The figure the SageMaker SDK prints as 'Managed Spot Training savings'."""
    if training <= 0:
        return 0.0
    return (1 - billable / training) * 100
