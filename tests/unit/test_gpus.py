"""GPU instance types: the count per type, the engine request, the CPU fallback or refusal.
No GPU needed: the translation is pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.errors import ValidationException
from emulator.jobs.gpu_jobs import check_gpus, plan_gpus
from emulator.jobs.settings import JobSettings, settings_from_tags
from emulator.jobs.spec import parse_spec
from emulator.runtime.gpus import gpu_count, gpu_kwargs, has_nvidia_runtime
from emulator.runtime.staging import HostDirs
from emulator.runtime.translate import ContainerSpec, container_kwargs


@pytest.mark.parametrize(("instance_type", "gpus"), [
    ("ml.m5.large", 0), ("ml.c5.xlarge", 0), ("ml.trn1.2xlarge", 0), ("ml.g4dn.xlarge", 1),
    ("ml.g5.12xlarge", 4), ("ml.g5.48xlarge", 8), ("ml.p3.2xlarge", 1), ("ml.p3.16xlarge", 8),
    ("ml.p4d.24xlarge", 8), ("ml.p2.16xlarge", 16),
])
def test_gpus_per_instance_type(instance_type: str, gpus: int) -> None:
    assert gpu_count(instance_type) == gpus


def test_a_gpu_container_asks_the_nvidia_runtime_for_its_devices(tmp_path: Path) -> None:
    spec = ContainerSpec(name="c", image="i", host="algo-1", dirs=HostDirs(tmp_path),
                         environment={"A": "b"}, labels={}, network=None, gpus=4)
    kwargs = container_kwargs(spec)
    assert kwargs["device_requests"] == [{"driver": "nvidia", "device_ids": ["0", "1", "2", "3"],
                                          "capabilities": [["gpu"]]}]
    assert kwargs["environment"] == {"A": "b", "NVIDIA_VISIBLE_DEVICES": "0,1,2,3"}
    cpu = container_kwargs(ContainerSpec(name="c", image="i", host="algo-1",
                                         dirs=HostDirs(tmp_path), environment={}, labels={},
                                         network=None))
    assert "device_requests" not in cpu and "NVIDIA_VISIBLE_DEVICES" not in cpu["environment"]
    assert gpu_kwargs(0) == {}
    assert has_nvidia_runtime({"Runtimes": {"runc": {}, "nvidia": {"path": "x"}}})
    assert not has_nvidia_runtime({"Runtimes": {"runc": {}}}) and not has_nvidia_runtime({})


def spec_of(instance_type: str, fallback: str = "cpu", groups: bool = False):  # type: ignore[no-untyped-def]
    resources = {"InstanceType": instance_type, "InstanceCount": 2}
    if groups:
        resources = {"InstanceGroups": [
            {"InstanceGroupName": "gpu", "InstanceType": instance_type, "InstanceCount": 1},
            {"InstanceGroupName": "cpu", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1}]}
    return parse_spec({"TrainingJobName": "j", "ResourceConfig": resources},
                      JobSettings(gpu_fallback=fallback))


def test_gpus_per_host_or_the_cpu_flag() -> None:
    assert plan_gpus(spec_of("ml.g5.12xlarge"), lambda: True) == (
        {"algo-1": 4, "algo-2": 4}, None)
    gpus, flag = plan_gpus(spec_of("ml.g5.12xlarge"), lambda: False)
    assert gpus == {} and flag is not None
    assert flag.startswith("ran on CPU, not GPU: ml.g5.12xlarge has 4 GPU(s) on SageMaker, but "
                           "this Docker engine has no NVIDIA runtime")
    assert plan_gpus(spec_of("ml.m5.large"), lambda: False) == ({}, None)
    # A heterogeneous cluster: only the GPU group's host gets GPUs.
    assert plan_gpus(spec_of("ml.p3.2xlarge", groups=True), lambda: True) == ({"algo-1": 1}, None)


def test_refuse_says_why_only_when_the_engine_has_no_gpus() -> None:
    check_gpus(spec_of("ml.g5.xlarge", "refuse"), lambda: True)
    check_gpus(spec_of("ml.g5.xlarge"), lambda: False)  # cpu: runs, flagged
    check_gpus(spec_of("ml.m5.large", "refuse"), lambda: False)
    with pytest.raises(ValidationException, match=r"ml.g5.xlarge needs NVIDIA GPUs, and this "
                                                  "Docker engine has no NVIDIA runtime"):
        check_gpus(spec_of("ml.g5.xlarge", "refuse"), lambda: False)


def test_the_setting_travels_in_a_tag() -> None:
    refuse = JobSettings(gpu_fallback="refuse")
    assert refuse.to_tags() == [{"Key": "smemu:gpu-fallback", "Value": "refuse"}]
    assert settings_from_tags(refuse.to_tags()) == refuse
    with pytest.raises(ValidationException, match="smemu:gpu-fallback must be one of cpu, refuse"):
        settings_from_tags([{"Key": "smemu:gpu-fallback", "Value": "maybe"}])
