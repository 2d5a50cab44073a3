"""smemu for tests: start an endpoint, run a training job on it, assert on what happened.

    from emulator.testing import Endpoint, assert_resumed, run_job

    with Endpoint(grace_period=20) as endpoint:
        result = run_job(endpoint, "my-trainer:latest", interrupt=["checkpoint=1"])
        assert result.status == "Completed"
        assert_resumed(result)  # "attempt 2 restarted from scratch: it never read ..."
        endpoint.reset()  # forget finished jobs before the next test

A library, not a test framework: it never imports pytest, and works under any runner.
`SmemuContainer` (the endpoint in a container, for testcontainers users) is imported on first
use: only it needs the ``testcontainers`` package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.testing.assertions import (
    assert_completed_within,
    assert_lost_at_most,
    assert_no_overwrite_conflicts,
    assert_resumed,
    assert_same_as_uninterrupted,
)
from emulator.testing.compare import Comparison, compare_runs
from emulator.testing.endpoint import Endpoint, EndpointRequestError
from emulator.testing.jobs import (
    create_job,
    read_result,
    run_job,
    start_job,
    training_request,
    uninterrupted_twin,
    unique_job_name,
    wait_for_job,
)
from emulator.testing.process import ServeProcess
from emulator.testing.readiness import EndpointStartError, wait_until
from emulator.testing.result import AttemptResult, JobResult, TransferredFile, read_tar_gz

if TYPE_CHECKING:
    from emulator.testing.container import SmemuContainer


def __getattr__(name: str) -> Any:
    if name == "SmemuContainer":
        from emulator.testing.container import SmemuContainer

        return SmemuContainer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AttemptResult",
    "Comparison",
    "Endpoint",
    "EndpointRequestError",
    "EndpointStartError",
    "JobResult",
    "ServeProcess",
    "SmemuContainer",
    "TransferredFile",
    "assert_completed_within",
    "assert_lost_at_most",
    "assert_no_overwrite_conflicts",
    "assert_resumed",
    "assert_same_as_uninterrupted",
    "compare_runs",
    "create_job",
    "read_result",
    "read_tar_gz",
    "run_job",
    "start_job",
    "training_request",
    "uninterrupted_twin",
    "unique_job_name",
    "wait_for_job",
    "wait_until",
]
