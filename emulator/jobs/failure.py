"""The FailureReason of a job whose container exited non-zero: pure, from what the host left.

The failure file's text wins, as on SageMaker, except over an OOM kill: a toolkit container
whose script the kernel killed writes "ExecuteUserScriptError ... ExitCode 137", which hides
the cause, so the out-of-memory text comes first and the file's text follows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator import contract
from emulator.jobs.instance_limits import memory_text

ALGORITHM_ERROR = "AlgorithmError: "
# UNCONFIRMED: SageMaker's own text for an out-of-memory training job is not published; this
# is the emulator's, in its style (README: choices where AWS is silent).
OUT_OF_MEMORY = ("AlgorithmError: OutOfMemoryError: Please use an instance type with more "
                 "memory, or reduce the size of job data processed on an instance.")


@dataclass(frozen=True)
class HostEnd:
    """How the failed host's container ended."""

    host: str
    exit_code: int | None
    oom_killed: bool = False  # docker inspect State.OOMKilled: the kernel's OOM killer struck
    failure_file: str = ""  # /opt/ml/output/failure, stripped
    memory_limit: int | None = None  # bytes (--instance-limits), None: the whole machine
    instance_type: str = ""
    limits: str = ""  # the instance-limits setting that gave the limit ("scaled:0.25")


def failure_reason(end: HostEnd) -> str:
    text = end.failure_file
    if text and not text.startswith(ALGORITHM_ERROR):
        # SageMaker puts the file's text after its own "AlgorithmError: " prefix.
        text = ALGORITHM_ERROR + text
    if end.oom_killed:
        text = f"{OUT_OF_MEMORY} ({_oom_detail(end)})" + (f" {text}" if text else "")
    elif not text:
        if end.exit_code is None:
            text = (f"InternalServerError: the training container of {end.host} ended without "
                    "an exit code (removed from outside smemu?)")
        else:
            text = f"AlgorithmError: Algorithm exited with a non-zero exit code {end.exit_code}"
    return text[: contract.FAILURE_REASON_MAX]


def _oom_detail(end: HostEnd) -> str:
    where = f"the kernel's OOM killer ended a process in {end.host}'s container"
    if end.memory_limit is None:
        return f"smemu: {where}; it had no memory limit, the machine ran out of memory"
    return (f"smemu: {where} at its memory limit of {memory_text(end.memory_limit)}, "
            f"{end.instance_type} with instance limits {end.limits}; exit code "
            f"{end.exit_code}")
