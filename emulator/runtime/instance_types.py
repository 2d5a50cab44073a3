"""vCPUs and memory of SageMaker's training instance types (for `--instance-limits`).

A `ml.X` training instance is the EC2 instance type `X`: the figures are AWS's published
specifications, from the "Amazon EC2 instance types" specification tables
(https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html, co.html, mo.html, ac.html)
and the instance table of "Amazon SageMaker AI pricing" (https://aws.amazon.com/sagemaker/pricing/,
vCPU and Memory columns). Memory is in GiB, as both publish it.

Pure data: a type missing here is one smemu has no figures for (the caller decides).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1024 ** 3


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_gib: float

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * GIB)


@dataclass(frozen=True)
class Machine:
    """What the Docker engine's machine has (docker info: NCPU, MemTotal)."""

    cpus: int
    memory_bytes: int


def _family(family: str, sizes: dict[str, tuple[int, float]]) -> dict[str, InstanceSpec]:
    return {f"ml.{family}.{size}": InstanceSpec(vcpus, gib)
            for size, (vcpus, gib) in sizes.items()}


def _ratio(family: str, gib_per_vcpu: float, sizes: dict[str, int]) -> dict[str, InstanceSpec]:
    """A family whose every size has the same memory per vCPU (m5: 4 GiB, c5: 2, r5: 8)."""
    return _family(family, {size: (vcpus, vcpus * gib_per_vcpu)
                            for size, vcpus in sizes.items()})


_M5 = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "12xlarge": 48, "24xlarge": 96}
_GEN6 = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
         "16xlarge": 64, "24xlarge": 96, "32xlarge": 128}
_GEN7 = {**{k: v for k, v in _GEN6.items() if k != "32xlarge"}, "48xlarge": 192}
_R5 = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
       "16xlarge": 64, "24xlarge": 96}
_GPU_G = {"xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32, "12xlarge": 48,
          "16xlarge": 64}
_GPU_G_BIG = {**_GPU_G, "24xlarge": 96, "48xlarge": 192}

INSTANCE_SPECS: dict[str, InstanceSpec] = {
    # general purpose
    **_family("m4", {"xlarge": (4, 16), "2xlarge": (8, 32), "4xlarge": (16, 64),
                     "10xlarge": (40, 160), "16xlarge": (64, 256)}),
    **_ratio("m5", 4, _M5),
    **_ratio("m6i", 4, _GEN6),
    **_ratio("m7i", 4, _GEN7),
    **_family("t3", {"medium": (2, 4), "large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32)}),
    # compute optimised
    **_family("c4", {"xlarge": (4, 7.5), "2xlarge": (8, 15), "4xlarge": (16, 30),
                     "8xlarge": (36, 60)}),
    **_ratio("c5", 2, {"xlarge": 4, "2xlarge": 8, "4xlarge": 16, "9xlarge": 36, "18xlarge": 72}),
    **_family("c5n", {"xlarge": (4, 10.5), "2xlarge": (8, 21), "4xlarge": (16, 42),
                      "9xlarge": (36, 96), "18xlarge": (72, 192)}),
    **_ratio("c6i", 2, {k: v for k, v in _GEN6.items() if k != "large"}),
    **_ratio("c7i", 2, _GEN7),
    # memory optimised
    **_ratio("r5", 8, _R5),
    **_ratio("r5d", 8, _R5),
    **_ratio("r6i", 8, _GEN6),
    **_ratio("r7i", 8, _GEN7),
    # accelerated (GPUs per type: runtime/gpus.py)
    **_ratio("g4dn", 4, _GPU_G),
    **_ratio("g5", 4, _GPU_G_BIG),
    **_ratio("g6", 4, _GPU_G_BIG),
    **_ratio("g6e", 8, _GPU_G_BIG),
    **_family("p2", {"xlarge": (4, 61), "8xlarge": (32, 488), "16xlarge": (64, 732)}),
    **_family("p3", {"2xlarge": (8, 61), "8xlarge": (32, 244), "16xlarge": (64, 488)}),
    **_family("p3dn", {"24xlarge": (96, 768)}),
    **_family("p4d", {"24xlarge": (96, 1152)}),
    **_family("p4de", {"24xlarge": (96, 1152)}),
    **_family("p5", {"4xlarge": (16, 256), "48xlarge": (192, 2048)}),
    **_family("p5e", {"48xlarge": (192, 2048)}),
    **_family("p5en", {"48xlarge": (192, 2048)}),
    **_family("p6-b200", {"48xlarge": (192, 2048)}),
    **_family("trn1", {"2xlarge": (8, 32), "32xlarge": (128, 512)}),
    **_family("trn1n", {"32xlarge": (128, 512)}),
    **_family("trn2", {"48xlarge": (192, 2048)}),
}


def instance_spec(instance_type: str) -> InstanceSpec | None:
    """The type's vCPUs and memory on SageMaker, or None when the table lacks it."""
    return INSTANCE_SPECS.get(instance_type)
