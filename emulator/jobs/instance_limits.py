"""CPU and memory limits from a job's instance type (`--instance-limits`, `smemu:instance-limits`).

Grammar of the setting:
    off          no limits (the default): every container may use the whole machine
    full         each host gets its instance type's vCPUs and memory
    scaled:F     that times F, 0 < F <= 1 (a laptop: `scaled:0.25` makes ml.m5.xlarge's
                 4 vCPU / 16 GiB into 1 CPU / 4 GiB)

Limits are per host: every container of a multi-instance job gets its own type's (its
instance group's). A limit above what the machine has is capped at the machine, with a flag
on the attempt; a limit below Docker's minimum is raised to it. An instance type without
figures in runtime/instance_types.py is refused at CreateTrainingJob while limits are on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from emulator.errors import PlanError, ValidationException
from emulator.runtime.instance_types import GIB, Machine, instance_spec

MIB = 1024 ** 2
DOCKER_MIN_MEMORY = 6 * MIB  # dockerd refuses a smaller memory limit
DOCKER_MIN_CPUS = 0.01  # ... and a smaller CPU quota


class LimitsMode(str, Enum):
    OFF = "off"
    FULL = "full"
    SCALED = "scaled"


LIMITS_MODES = ("off", "full", "scaled:F")


@dataclass(frozen=True)
class InstanceLimits:
    mode: LimitsMode = LimitsMode.OFF
    factor: float = 1.0  # `scaled` only

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", LimitsMode(self.mode))

    @property
    def on(self) -> bool:
        return self.mode != LimitsMode.OFF

    def to_text(self) -> str:
        return f"scaled:{self.factor:g}" if self.mode == LimitsMode.SCALED else self.mode.value


def parse_instance_limits(text: str, what: str = "instance limits") -> InstanceLimits:
    """`off`, `full` or `scaled:F` (0 < F <= 1); PlanError (naming `what`) otherwise."""
    word, sep, factor_text = text.strip().partition(":")
    if not sep and word in (LimitsMode.OFF.value, LimitsMode.FULL.value):
        return InstanceLimits(LimitsMode(word))
    if word == LimitsMode.SCALED.value and sep:
        try:
            factor = float(factor_text)
        except ValueError:
            factor = float("nan")
        if 0.0 < factor <= 1.0:
            return InstanceLimits(LimitsMode.SCALED, factor)
        raise PlanError(f"{what}: the factor of scaled:F must be a number above 0 and at "
                        f"most 1, not {factor_text!r}")
    raise PlanError(f"{what} must be off, full or scaled:F (e.g. scaled:0.25), not {text!r}")


@dataclass(frozen=True)
class HostLimits:
    cpus: float
    memory_bytes: int


def check_instance_types(limits: InstanceLimits, instance_types: Mapping[str, str]) -> None:
    """CreateTrainingJob: with limits on, every host's type must be in the table."""
    if not limits.on:
        return
    unknown = sorted({t for t in instance_types.values() if instance_spec(t) is None})
    if unknown:
        raise ValidationException(
            f"smemu has no vCPU and memory figures for {', '.join(unknown)}, so it cannot "
            f"apply instance limits ({limits.to_text()}) to this job. Use an instance type "
            "from the table in the README (Instance limits), or set smemu:instance-limits off.")


def plan_limits(limits: InstanceLimits, instance_types: Mapping[str, str],
                machine: Machine | None) -> tuple[dict[str, HostLimits], list[str]]:
    """The limits of each host (by name), and notes on the ones capped at the machine."""
    if not limits.on:
        return {}, []
    planned: dict[str, HostLimits] = {}
    notes: list[str] = []
    for host, instance_type in instance_types.items():
        one, note = host_limits(instance_type, limits, machine)
        planned[host] = one
        if note and note not in notes:
            notes.append(note)
    return planned, notes


def host_limits(instance_type: str, limits: InstanceLimits,
                machine: Machine | None) -> tuple[HostLimits, str | None]:
    spec = instance_spec(instance_type)
    if spec is None:  # check_instance_types refused it at CreateTrainingJob
        raise ValidationException(f"no vCPU and memory figures for {instance_type}")
    factor = limits.factor if limits.mode == LimitsMode.SCALED else 1.0
    cpus = max(DOCKER_MIN_CPUS, round(spec.vcpus * factor, 2))
    memory = max(DOCKER_MIN_MEMORY, int(spec.memory_bytes * factor) // MIB * MIB)
    wanted = f"{instance_type} {limits.to_text()} is {_cpus(cpus)}, {memory_text(memory)}"
    if machine is None or (cpus <= machine.cpus and memory <= machine.memory_bytes):
        return HostLimits(cpus, memory), None
    capped = HostLimits(min(cpus, float(machine.cpus)), min(memory, machine.memory_bytes))
    return capped, (f"instance limits capped: {wanted}, more than this machine's "
                    f"{_cpus(machine.cpus)}, {memory_text(machine.memory_bytes)}; each host got "
                    f"{_cpus(capped.cpus)}, {memory_text(capped.memory_bytes)}")


def _cpus(cpus: float) -> str:
    return f"{cpus:g} CPU" + ("" if cpus == 1 else "s")


def memory_text(size: int) -> str:
    return f"{size / GIB:.3g} GiB" if size >= GIB else f"{size / MIB:.0f} MiB"
