"""Emulator-only settings of a job, carried in request tags so the request stays valid on AWS.

Tags (keys and values fit SageMaker's Tag pattern; AWS ignores tags it does not know):
    smemu:interrupt        "after=30s after=10s"   interruption plan
    smemu:grace-period     "120s"                   SIGTERM -> SIGKILL window on interruption
    smemu:checkpoint-flush "flush" | "lose"         upload what is left after a kill, or not
    smemu:spot-price-ratio "0.3"                    billable = training * ratio for spot jobs
    smemu:checkpoint-markers "on" | "off"           <file>.sagemaker-uploading/-uploaded files
    smemu:checkpoint-prefix "string" | "directory"  how an S3Uri without a trailing / restores
    smemu:code-dir         "/home/me/src"           host directory mounted read-only (--code)
    smemu:code-path        "/opt/ml/code"           where it is mounted (default /opt/ml/code)
    smemu:gpu-fallback     "cpu" | "refuse"         a GPU instance type on an engine without GPUs
    smemu:s3-faults        "errors=0.2 seed=7"      S3 fault injection (faults/s3_spec.py)
    smemu:s3-wait          "120s"                   how long a flush or upload waits for S3
    smemu:instance-limits  "off" | "full" | "scaled:0.25"  CPU/memory limits of the instance type
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from emulator.contract import DEFAULT_GRACE_PERIOD_S, DEFAULT_SPOT_PRICE_RATIO
from emulator.errors import PlanError, ValidationException
from emulator.faults.plan import InterruptionPlan, format_duration, parse_duration, parse_plan
from emulator.faults.s3_spec import S3FaultSpec, parse_s3_faults
from emulator.jobs.instance_limits import InstanceLimits, parse_instance_limits

TAG_PREFIX = "smemu:"
TAG_INTERRUPT = "smemu:interrupt"
TAG_GRACE = "smemu:grace-period"
TAG_FLUSH = "smemu:checkpoint-flush"
TAG_SPOT_RATIO = "smemu:spot-price-ratio"
TAG_MARKERS = "smemu:checkpoint-markers"
TAG_PREFIX_MATCH = "smemu:checkpoint-prefix"
TAG_GPU_FALLBACK = "smemu:gpu-fallback"
TAG_CODE_DIR = "smemu:code-dir"
TAG_CODE_PATH = "smemu:code-path"
TAG_S3_FAULTS = "smemu:s3-faults"
TAG_S3_WAIT = "smemu:s3-wait"
# How long the end of an attempt (its checkpoint flush, the model upload) and a restore keep
# retrying while S3 does not answer, before the job fails.
DEFAULT_S3_WAIT_S = 120.0
TAG_INSTANCE_LIMITS = "smemu:instance-limits"
DEFAULT_CODE_PATH = "/opt/ml/code"
SWITCH_VALUES = {"on": True, "off": False}


class CheckpointFlush(str, Enum):
    """What happens to checkpoint files not yet uploaded when an interruption kills the job."""

    FLUSH = "flush"  # uploaded after the container stopped
    LOSE = "lose"  # lost, as on an instance that vanished


FLUSH_MODES = tuple(mode.value for mode in CheckpointFlush)


class CheckpointPrefix(str, Enum):
    """Which keys a restore brings down for CheckpointConfig.S3Uri ``s3://b/ASHA-1``."""

    STRING = "string"  # every key starting "ASHA-1", ASHA-10/... too (SageMaker's way)
    DIRECTORY = "directory"  # only the keys under ASHA-1/


PREFIX_MODES = tuple(mode.value for mode in CheckpointPrefix)


class GpuFallback(str, Enum):
    """A ml.g*/ml.p* job on an engine without the NVIDIA runtime."""

    CPU = "cpu"  # runs on CPU, flagged
    REFUSE = "refuse"  # CreateTrainingJob fails with a clear error


GPU_FALLBACKS = tuple(mode.value for mode in GpuFallback)


@dataclass(frozen=True)
class JobSettings:
    plan: InterruptionPlan = field(default_factory=InterruptionPlan)
    grace_period: float = DEFAULT_GRACE_PERIOD_S
    checkpoint_flush: CheckpointFlush = CheckpointFlush.FLUSH
    spot_price_ratio: float = DEFAULT_SPOT_PRICE_RATIO
    # SageMaker's agent writes <file>.sagemaker-uploading / .sagemaker-uploaded beside each
    # checkpoint it uploads; some containers wait on them.
    checkpoint_markers: bool = True
    checkpoint_prefix: CheckpointPrefix = CheckpointPrefix.STRING
    gpu_fallback: GpuFallback = GpuFallback.CPU
    # `smemu run --code DIR`: a host directory mounted read-only into every container (at
    # code_path), so that an edited script needs no image rebuild; SageMaker's local mode
    # mounts source_dir the same way.
    code_dir: str | None = None
    code_path: str = DEFAULT_CODE_PATH
    s3_faults: S3FaultSpec = field(default_factory=S3FaultSpec)
    s3_wait: float = DEFAULT_S3_WAIT_S
    # CPU and memory limits from the instance type (jobs/instance_limits.py); off by default.
    instance_limits: InstanceLimits = field(default_factory=InstanceLimits)

    def __post_init__(self) -> None:
        if isinstance(self.instance_limits, str):  # "scaled:0.25", as the flag takes it
            object.__setattr__(self, "instance_limits",
                               parse_instance_limits(self.instance_limits))
        # Callers may name the mode by its value ("lose"); the field always holds the enum.
        object.__setattr__(self, "checkpoint_flush", CheckpointFlush(self.checkpoint_flush))
        object.__setattr__(self, "checkpoint_prefix", CheckpointPrefix(self.checkpoint_prefix))
        object.__setattr__(self, "gpu_fallback", GpuFallback(self.gpu_fallback))

    def to_tags(self, explicit: Collection[str] = ()) -> list[dict[str, str]]:
        """Tags for the settings that differ from the defaults, and for those named in
        `explicit` (a user's explicit choice must win over the endpoint's defaults)."""
        tags = []
        if self.plan.triggers:
            tags.append({"Key": TAG_INTERRUPT, "Value": self.plan.to_tag_value()})
        if self.grace_period != DEFAULT_GRACE_PERIOD_S or "grace_period" in explicit:
            tags.append({"Key": TAG_GRACE, "Value": format_duration(self.grace_period)})
        if self.checkpoint_flush != CheckpointFlush.FLUSH or "checkpoint_flush" in explicit:
            tags.append({"Key": TAG_FLUSH, "Value": self.checkpoint_flush.value})
        if self.spot_price_ratio != DEFAULT_SPOT_PRICE_RATIO or "spot_price_ratio" in explicit:
            tags.append({"Key": TAG_SPOT_RATIO, "Value": f"{self.spot_price_ratio:g}"})
        if not self.checkpoint_markers or "checkpoint_markers" in explicit:
            tags.append({"Key": TAG_MARKERS, "Value": "on" if self.checkpoint_markers else "off"})
        if self.checkpoint_prefix != CheckpointPrefix.STRING or "checkpoint_prefix" in explicit:
            tags.append({"Key": TAG_PREFIX_MATCH, "Value": self.checkpoint_prefix.value})
        if self.gpu_fallback != GpuFallback.CPU or "gpu_fallback" in explicit:
            tags.append({"Key": TAG_GPU_FALLBACK, "Value": self.gpu_fallback.value})
        if self.s3_faults != S3FaultSpec():
            tags.append({"Key": TAG_S3_FAULTS, "Value": self.s3_faults.tag_value})
        if self.s3_wait != DEFAULT_S3_WAIT_S or "s3_wait" in explicit:
            tags.append({"Key": TAG_S3_WAIT, "Value": format_duration(self.s3_wait)})
        if self.instance_limits.on or "instance_limits" in explicit:
            tags.append({"Key": TAG_INSTANCE_LIMITS, "Value": self.instance_limits.to_text()})
        if self.code_dir is not None:
            tags.append({"Key": TAG_CODE_DIR, "Value": self.code_dir})
            if self.code_path != DEFAULT_CODE_PATH:
                tags.append({"Key": TAG_CODE_PATH, "Value": self.code_path})
        return tags

    def to_dict(self) -> dict[str, Any]:
        return {
            "InterruptionPlan": self.plan.spec,
            "GracePeriodSeconds": self.grace_period,
            "CheckpointFlush": self.checkpoint_flush.value,
            "SpotPriceRatio": self.spot_price_ratio,
            "CheckpointMarkers": self.checkpoint_markers,
            "CheckpointPrefix": self.checkpoint_prefix.value,
            "GpuFallback": self.gpu_fallback.value,
            "S3Faults": self.s3_faults.spec,
            "S3WaitSeconds": self.s3_wait,
            "InstanceLimits": self.instance_limits.to_text(),
            **({} if self.code_dir is None else {"CodeDir": self.code_dir,
                                                 "CodePath": self.code_path}),
        }


def settings_from_tags(
    tags: Iterable[Mapping[str, str]] | None, defaults: JobSettings | None = None
) -> JobSettings:
    """Read `smemu:` tags; a bad value is a ValidationException naming the tag."""
    base = defaults or JobSettings()
    values = {t.get("Key", ""): t.get("Value", "") for t in tags or ()}
    try:
        plan = parse_plan(values[TAG_INTERRUPT]) if TAG_INTERRUPT in values else base.plan
        grace = parse_duration(values[TAG_GRACE]) if TAG_GRACE in values else base.grace_period
        flush = values.get(TAG_FLUSH, base.checkpoint_flush.value)
        if flush not in FLUSH_MODES:
            raise PlanError(f"{TAG_FLUSH} must be one of {', '.join(FLUSH_MODES)}, not {flush!r}")
        ratio = float(values[TAG_SPOT_RATIO]) if TAG_SPOT_RATIO in values else base.spot_price_ratio
        if not 0.0 <= ratio <= 1.0:
            raise PlanError(f"{TAG_SPOT_RATIO} must be between 0 and 1, not {ratio:g}")
        markers = values.get(TAG_MARKERS)
        if markers is not None and markers not in SWITCH_VALUES:
            raise PlanError(f"{TAG_MARKERS} must be on or off, not {markers!r}")
        prefix = values.get(TAG_PREFIX_MATCH, base.checkpoint_prefix.value)
        if prefix not in PREFIX_MODES:
            raise PlanError(f"{TAG_PREFIX_MATCH} must be one of {', '.join(PREFIX_MODES)}, "
                            f"not {prefix!r}")
        gpu = values.get(TAG_GPU_FALLBACK, base.gpu_fallback.value)
        if gpu not in GPU_FALLBACKS:
            raise PlanError(f"{TAG_GPU_FALLBACK} must be one of {', '.join(GPU_FALLBACKS)}, "
                            f"not {gpu!r}")
        faults = base.s3_faults
        if TAG_S3_FAULTS in values:
            try:
                faults = parse_s3_faults(values[TAG_S3_FAULTS])
            except ValueError as err:
                raise PlanError(f"{TAG_S3_FAULTS}: {err}") from err
        s3_wait = parse_duration(values[TAG_S3_WAIT]) if TAG_S3_WAIT in values \
            else base.s3_wait
        limits = base.instance_limits if TAG_INSTANCE_LIMITS not in values else \
            parse_instance_limits(values[TAG_INSTANCE_LIMITS], TAG_INSTANCE_LIMITS)
        code_dir = values.get(TAG_CODE_DIR, base.code_dir)
        code_path = values.get(TAG_CODE_PATH, base.code_path)
        for key, path in ((TAG_CODE_DIR, code_dir), (TAG_CODE_PATH, code_path)):
            if path is not None and not path.startswith("/"):
                raise PlanError(f"{key} must be an absolute path, not {path!r}")
    except (PlanError, ValueError) as err:
        raise ValidationException(f"Invalid emulator tag: {err}") from err
    return JobSettings(
        plan=plan, grace_period=grace, checkpoint_flush=CheckpointFlush(flush),
        spot_price_ratio=ratio,
        checkpoint_markers=base.checkpoint_markers if markers is None else SWITCH_VALUES[markers],
        checkpoint_prefix=CheckpointPrefix(prefix), code_dir=code_dir, code_path=code_path,
        gpu_fallback=GpuFallback(gpu), instance_limits=limits, s3_faults=faults,
        s3_wait=s3_wait)
