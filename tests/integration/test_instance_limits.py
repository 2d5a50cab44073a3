"""Instance limits on real Docker: each host's container gets its instance type's CPUs and
memory (scaled), as its own cgroup shows from inside; a container that allocates past its
memory limit is OOM-killed, and the job Fails with the out-of-memory FailureReason."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from emulator.jobs.failure import OUT_OF_MEMORY
from tests.support.endpoint import EndpointProcess, job_log, toy_request, wait_for_job

pytestmark = pytest.mark.docker
GIB = 1024 ** 3

# The container's own limits, from cgroup v2 or v1 (whichever the engine uses).
SHOW_LIMITS = """
import socket
def read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None
memory = read("/sys/fs/cgroup/memory.max") or read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
cpu = read("/sys/fs/cgroup/cpu.max")
quota, period = cpu.split() if cpu else (read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                                         read("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
print(f"limits host={socket.gethostname()} cpus={int(quota) / int(period):g} memory={memory}")
"""
# Grows by 8 MiB of written (so resident) bytes until the kernel kills it; past 512 MiB it
# was given no limit, and stops rather than fill a shared machine.
ALLOCATE = """
held = []
while len(held) < 64:
    held.append(b"x" * (8 << 20))
    print("allocated", 8 * len(held), "MiB", flush=True)
"""

# A ContainerEntrypoint item holds at most 256 characters, a hyperparameter one line: the
# script comes as a base64 hyperparameter.
RUN_SCRIPT = ("import base64, json; exec(base64.b64decode(json.load(open("
              "'/opt/ml/input/config/hyperparameters.json'))['script']))")


def python_job(name: str, bucket: str, script: str, limits: str,
               groups: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    request = toy_request(name, spot=False, checkpoint_uri=None, bucket=bucket,
                          tags=[{"Key": "smemu:instance-limits", "Value": limits}])
    request["AlgorithmSpecification"] = {
        "TrainingImage": "smemu-base:latest", "TrainingInputMode": "File",
        "ContainerEntrypoint": ["python3", "-c", RUN_SCRIPT]}
    request["HyperParameters"] = {"script": base64.b64encode(script.encode()).decode()}
    if groups:
        request["ResourceConfig"] = {"VolumeSizeInGB": 1, "InstanceGroups": [
            {"InstanceGroupName": group, "InstanceType": instance_type, "InstanceCount": 1}
            for group, instance_type in groups]}
    return request


def test_each_host_runs_within_its_instance_types_scaled_limits(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    # A heterogeneous cluster: algo-1 is a ml.m5.large (2 vCPU, 8 GiB), algo-2 a ml.c5.xlarge
    # (4 vCPU, 8 GiB); a quarter of each.
    sagemaker.create_training_job(**python_job(
        job_name, bucket, SHOW_LIMITS, "scaled:0.25",
        groups=[("small", "ml.m5.large"), ("compute", "ml.c5.xlarge")]))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = dict(re.findall(r"limits host=(algo-\d) (cpus=\S+ memory=\d+)",
                           "\n".join(job_log(endpoint, job_name))))
    assert seen == {"algo-1": f"cpus=0.5 memory={2 * GIB}",
                    "algo-2": f"cpus=1 memory={2 * GIB}"}, seen
    assert endpoint.report(job_name)["Settings"]["InstanceLimits"] == "scaled:0.25"


def test_a_container_past_its_memory_limit_fails_out_of_memory(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    # ml.m5.large's 8 GiB / 128 = 64 MiB.
    sagemaker.create_training_job(**python_job(job_name, bucket, ALLOCATE, "scaled:0.0078125"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == (
        f"{OUT_OF_MEMORY} (smemu: the kernel's OOM killer ended a process in algo-1's "
        "container at its memory limit of 64 MiB, ml.m5.large with instance limits "
        "scaled:0.0078125; exit code 137)")
    [attempt] = endpoint.report(job_name)["Attempts"]
    assert attempt["OomKilled"] is True and attempt["ExitCode"] == 137
    allocated = [int(m) for m in re.findall(r"allocated (\d+) MiB",
                                            "\n".join(job_log(endpoint, job_name)))]
    assert allocated and max(allocated) <= 64  # it never got past its limit
