"""GPU instance types: how many GPUs SageMaker gives each, and the engine request for them.

Pure: an instance type in, docker-py keyword arguments out (unit-tested without a GPU).
"""

from __future__ import annotations

import re
from typing import Any

# GPUs per instance on SageMaker (the instance types' published specs); a `ml.g*` / `ml.p*`
# type missing here counts as 1 GPU.
GPUS_BY_TYPE: dict[str, int] = {
    "ml.g4dn.12xlarge": 4,
    "ml.g5.12xlarge": 4, "ml.g5.24xlarge": 4, "ml.g5.48xlarge": 8,
    "ml.g6.12xlarge": 4, "ml.g6.24xlarge": 4, "ml.g6.48xlarge": 8,
    "ml.g6e.12xlarge": 4, "ml.g6e.24xlarge": 4, "ml.g6e.48xlarge": 8,
    "ml.p2.8xlarge": 8, "ml.p2.16xlarge": 16,
    "ml.p3.8xlarge": 4, "ml.p3.16xlarge": 8, "ml.p3dn.24xlarge": 8,
    "ml.p4d.24xlarge": 8, "ml.p4de.24xlarge": 8,
    "ml.p5.48xlarge": 8, "ml.p5e.48xlarge": 8, "ml.p5en.48xlarge": 8,
    "ml.p6-b200.48xlarge": 8, "ml.p6-b300.48xlarge": 8, "ml.p6e-gb200.36xlarge": 4,
}
_GPU_FAMILY = re.compile(r"^ml\.[gp]\d")
NVIDIA_RUNTIME = "nvidia"


def gpu_count(instance_type: str) -> int:
    """How many GPUs an instance of this type has on SageMaker (0: a CPU type)."""
    if not _GPU_FAMILY.match(instance_type):
        return 0
    return GPUS_BY_TYPE.get(instance_type, 1)


def gpu_kwargs(count: int) -> dict[str, Any]:
    """docker-py `containers.run` arguments giving a container GPUs 0..count-1 through the
    NVIDIA runtime: a device request, and NVIDIA_VISIBLE_DEVICES naming the same devices."""
    if count <= 0:
        return {}
    devices = [str(i) for i in range(count)]
    return {
        "device_requests": [{"driver": NVIDIA_RUNTIME, "device_ids": devices,
                             "capabilities": [["gpu"]]}],
        "environment": {"NVIDIA_VISIBLE_DEVICES": ",".join(devices)},
    }


def has_nvidia_runtime(engine_info: dict[str, Any]) -> bool:
    """Whether `docker info` lists the NVIDIA runtime."""
    return NVIDIA_RUNTIME in (engine_info.get("Runtimes") or {})
