"""smemu for tests: start an endpoint, run a training job on it, assert on what happened.

    from emulator.testing import Endpoint, assert_resumed, run_job

    with Endpoint(grace_period=20) as endpoint:
        result = run_job(endpoint, "my-trainer:latest", interrupt=["checkpoint=1"])
        assert result.status == "Completed"
        assert_resumed(result)  # "attempt 2 restarted from scratch: it never read ..."
        endpoint.reset()  # forget finished jobs before the next test

A library, not a test framework: it never imports pytest, and works under any runner.
"""

from __future__ import annotations

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

__all__ = [
    "AttemptResult",
    "Comparison",
    "Endpoint",
    "EndpointRequestError",
    "EndpointStartError",
    "JobResult",
    "ServeProcess",
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
