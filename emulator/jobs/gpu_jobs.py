"""GPU instance types of a job: GPUs from the engine when it has them, else CPU (flagged) or a
refusal, as the job's `smemu:gpu-fallback` setting says."""

from __future__ import annotations

from collections.abc import Callable

from emulator.errors import ValidationException
from emulator.jobs.settings import GpuFallback
from emulator.jobs.spec import JobSpec
from emulator.runtime.gpus import gpu_count

CPU_FLAG = "ran on CPU, not GPU"


def wanted_gpus(spec: JobSpec) -> dict[str, int]:
    """The hosts whose instance type has GPUs on SageMaker, with how many."""
    wanted = {host: gpu_count(spec.resources.instance_type_of(host)) for host in spec.hosts}
    return {host: n for host, n in wanted.items() if n}


def _types(spec: JobSpec, hosts: dict[str, int]) -> str:
    return ", ".join(sorted({spec.resources.instance_type_of(h) for h in hosts}))


def check_gpus(spec: JobSpec, has_gpus: Callable[[], bool]) -> None:
    """CreateTrainingJob: refuse a GPU job the engine cannot give GPUs, when so configured."""
    wanted = wanted_gpus(spec)
    if wanted and spec.settings.gpu_fallback == GpuFallback.REFUSE and not has_gpus():
        raise ValidationException(
            f"{_types(spec, wanted)} needs NVIDIA GPUs, and this Docker engine has no NVIDIA "
            "runtime (install the NVIDIA Container Toolkit), so smemu refuses the job "
            "(smemu:gpu-fallback refuse). Use a CPU instance type, or smemu:gpu-fallback cpu "
            "to run it on CPU.")


def plan_gpus(spec: JobSpec, has_gpus: Callable[[], bool]) -> tuple[dict[str, int], str | None]:
    """GPUs per host, and the flag of a GPU job that runs on CPU instead."""
    wanted = wanted_gpus(spec)
    if not wanted:
        return {}, None
    if has_gpus():
        return wanted, None
    return {}, (f"{CPU_FLAG}: {_types(spec, wanted)} has {max(wanted.values())} GPU(s) on "
                "SageMaker, but this Docker engine has no NVIDIA runtime; the container saw "
                "no GPU (smemu:gpu-fallback refuse refuses such jobs)")
