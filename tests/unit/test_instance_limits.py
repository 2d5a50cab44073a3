"""Instance limits: the instance-type table, the off|full|scaled:F grammar and its tag, the
limits per host (capped at the machine), their Docker translation, and the OOM FailureReason
(never given to a stop's or an interruption's SIGKILL). The runner runs on a fake engine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from emulator import contract
from emulator.errors import PlanError, ValidationException
from emulator.jobs.clock import ManualClock
from emulator.jobs.failure import OUT_OF_MEMORY, HostEnd, failure_reason
from emulator.jobs.instance_limits import (
    DOCKER_MIN_MEMORY,
    HostLimits,
    InstanceLimits,
    LimitsMode,
    check_instance_types,
    parse_instance_limits,
    plan_limits,
)
from emulator.jobs.model import TrainingJob
from emulator.jobs.runner import JobRunner
from emulator.jobs.settings import JobSettings, settings_from_tags
from emulator.runtime.gpus import GPUS_BY_TYPE
from emulator.runtime.instance_types import GIB, INSTANCE_SPECS, InstanceSpec, Machine
from emulator.runtime.staging import HostDirs
from emulator.runtime.translate import ContainerSpec, container_kwargs
from emulator.validation import enum_values
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end, training_request
from tests.unit._s3server import MotoS3

BIG = Machine(cpus=512, memory_bytes=4096 * GIB)


@pytest.mark.parametrize(("instance_type", "vcpus", "gib"), [
    ("ml.m5.large", 2, 8), ("ml.m5.24xlarge", 96, 384), ("ml.c5.xlarge", 4, 8),
    ("ml.c5.18xlarge", 72, 144), ("ml.p3.2xlarge", 8, 61), ("ml.p3.16xlarge", 64, 488),
    ("ml.g4dn.xlarge", 4, 16), ("ml.g4dn.12xlarge", 48, 192), ("ml.g5.48xlarge", 192, 768),
    ("ml.p4d.24xlarge", 96, 1152), ("ml.trn1.2xlarge", 8, 32), ("ml.trn1.32xlarge", 128, 512),
    ("ml.m6i.32xlarge", 128, 512), ("ml.c4.8xlarge", 36, 60), ("ml.c5n.18xlarge", 72, 192),
    ("ml.r5.24xlarge", 96, 768), ("ml.g6e.48xlarge", 192, 1536), ("ml.t3.medium", 2, 4),
])
def test_the_table_has_aws_published_figures(instance_type: str, vcpus: int, gib: float) -> None:
    assert INSTANCE_SPECS[instance_type] == InstanceSpec(vcpus, gib)


def test_every_type_in_the_table_is_a_sagemaker_training_type() -> None:
    allowed = set(enum_values("TrainingInstanceType"))
    assert sorted(set(INSTANCE_SPECS) - allowed) == []
    # The common families, whole; and every GPU type smemu knows but the newest two.
    for family in ("m5", "c5", "p3", "g4dn", "g5", "trn1", "m6i", "m4", "c6i", "r5", "g6"):
        sizes = {t for t in allowed if t.startswith(f"ml.{family}.")}
        assert sizes and sizes <= set(INSTANCE_SPECS), family
    assert sorted(t for t in GPUS_BY_TYPE if t in allowed and t not in INSTANCE_SPECS) == [
        "ml.p6-b300.48xlarge", "ml.p6e-gb200.36xlarge"]


@pytest.mark.parametrize(("text", "limits"), [
    ("off", InstanceLimits()), ("full", InstanceLimits(LimitsMode.FULL)),
    ("scaled:0.25", InstanceLimits(LimitsMode.SCALED, 0.25)),
    ("scaled:1", InstanceLimits(LimitsMode.SCALED, 1.0)), (" full ", InstanceLimits("full")),
])
def test_the_grammar(text: str, limits: InstanceLimits) -> None:
    assert parse_instance_limits(text) == limits
    assert parse_instance_limits(limits.to_text()) == limits


@pytest.mark.parametrize(("text", "message"), [
    ("scaled:0", "the factor of scaled:F must be a number above 0 and at most 1, not '0'"),
    ("scaled:1.5", "not '1.5'"), ("scaled:x", "not 'x'"), ("scaled:nan", "not 'nan'"),
    ("scaled", "must be off, full or scaled:F (e.g. scaled:0.25), not 'scaled'"),
    ("half", "not 'half'"), ("full:2", "not 'full:2'"), ("", "not ''"),
])
def test_bad_values_say_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_instance_limits(text, "--instance-limits")
    assert str(caught.value).startswith("--instance-limits") and message in str(caught.value)


def test_the_setting_travels_in_a_tag_and_the_endpoint_default_applies() -> None:
    scaled = JobSettings(instance_limits="scaled:0.25")
    assert scaled.instance_limits == InstanceLimits(LimitsMode.SCALED, 0.25)
    assert scaled.to_tags() == [{"Key": "smemu:instance-limits", "Value": "scaled:0.25"}]
    assert settings_from_tags(scaled.to_tags()) == scaled
    assert JobSettings().to_tags() == []
    # A user's explicit `off` must win over an endpoint started with `full`.
    off = JobSettings().to_tags(explicit=["instance_limits"])
    assert off == [{"Key": "smemu:instance-limits", "Value": "off"}]
    endpoint = JobSettings(instance_limits="full")
    assert settings_from_tags(off, endpoint).instance_limits == InstanceLimits()
    assert settings_from_tags([], endpoint).instance_limits == InstanceLimits(LimitsMode.FULL)
    assert scaled.to_dict()["InstanceLimits"] == "scaled:0.25"
    with pytest.raises(ValidationException, match="Invalid emulator tag: smemu:instance-limits "
                                                  "must be off, full or scaled:F"):
        settings_from_tags([{"Key": "smemu:instance-limits", "Value": "25%"}])


def test_limits_per_host_from_each_hosts_instance_type() -> None:
    types = {"algo-1": "ml.m5.xlarge", "algo-2": "ml.c5.2xlarge"}  # a heterogeneous cluster
    assert plan_limits(InstanceLimits(), types, BIG) == ({}, [])
    assert plan_limits(InstanceLimits("full"), types, BIG) == (
        {"algo-1": HostLimits(4, 16 * GIB), "algo-2": HostLimits(8, 16 * GIB)}, [])
    assert plan_limits(parse_instance_limits("scaled:0.25"), types, BIG) == (
        {"algo-1": HostLimits(1, 4 * GIB), "algo-2": HostLimits(2, 4 * GIB)}, [])
    # Rounded as Docker takes them: CPUs to 0.01, memory down to whole MiB.
    assert plan_limits(parse_instance_limits("scaled:0.333"), {"h": "ml.c4.xlarge"},
                       BIG)[0]["h"] == HostLimits(1.33, int(7.5 * 0.333 * 1024) * 1024 ** 2)


def test_a_limit_above_the_machine_is_capped_with_a_note() -> None:
    laptop = Machine(cpus=2, memory_bytes=int(23.5 * GIB))
    planned, notes = plan_limits(parse_instance_limits("scaled:0.5"),
                                 {"algo-1": "ml.p3.2xlarge", "algo-2": "ml.p3.2xlarge"}, laptop)
    assert planned == {h: HostLimits(2.0, int(23.5 * GIB)) for h in ("algo-1", "algo-2")}
    assert notes == ["instance limits capped: ml.p3.2xlarge scaled:0.5 is 4 CPUs, 30.5 GiB, "
                     "more than this machine's 2 CPUs, 23.5 GiB; each host got 2 CPUs, "
                     "23.5 GiB"]
    # Below the machine: no note; an engine that does not say: no cap.
    assert plan_limits(InstanceLimits("full"), {"h": "ml.m5.large"}, laptop)[1] == []
    assert plan_limits(InstanceLimits("full"), {"h": "ml.p4d.24xlarge"}, None) == (
        {"h": HostLimits(96, 1152 * GIB)}, [])


def test_a_tiny_factor_is_raised_to_dockers_minimum() -> None:
    planned, _ = plan_limits(parse_instance_limits("scaled:0.0001"), {"h": "ml.t3.medium"}, BIG)
    assert planned["h"] == HostLimits(0.01, DOCKER_MIN_MEMORY)


def test_a_type_without_figures_is_refused_only_while_limits_are_on() -> None:
    assert "ml.g7.2xlarge" in enum_values("TrainingInstanceType")  # valid on SageMaker ...
    assert "ml.g7.2xlarge" not in INSTANCE_SPECS  # ... but not in smemu's table
    types = {"algo-1": "ml.m5.large", "algo-2": "ml.g7.2xlarge"}
    check_instance_types(InstanceLimits(), types)
    with pytest.raises(ValidationException) as caught:
        check_instance_types(parse_instance_limits("scaled:0.25"), types)
    assert str(caught.value) == (
        "smemu has no vCPU and memory figures for ml.g7.2xlarge, so it cannot apply instance "
        "limits (scaled:0.25) to this job. Use an instance type from the table in the README "
        "(Instance limits), or set smemu:instance-limits off.")


def test_limits_become_a_labelled_cpu_quota_and_a_memory_limit_without_swap(
        tmp_path: Path) -> None:
    spec = ContainerSpec(name="c", image="i", host="algo-1", dirs=HostDirs(tmp_path),
                         environment={}, labels={"smemu.job": "j"}, network=None,
                         cpus=0.5, memory_bytes=2 * GIB)
    kwargs = container_kwargs(spec)
    assert kwargs["nano_cpus"] == 500_000_000
    assert kwargs["mem_limit"] == kwargs["memswap_limit"] == 2 * GIB
    assert kwargs["labels"] == {"smemu.job": "j", "smemu.host": "algo-1",
                                "smemu.cpu-limit": "0.5", "smemu.memory-limit": str(2 * GIB)}
    unlimited = container_kwargs(ContainerSpec(name="c", image="i", host="algo-1",
                                               dirs=HostDirs(tmp_path), environment={},
                                               labels={}, network=None))
    assert not {"nano_cpus", "mem_limit", "memswap_limit"} & set(unlimited)


def test_the_oom_failure_reason() -> None:
    limited = HostEnd("algo-2", 137, oom_killed=True, memory_limit=GIB // 2,
                      instance_type="ml.m5.large", limits="scaled:0.0625")
    assert failure_reason(limited) == (
        f"{OUT_OF_MEMORY} (smemu: the kernel's OOM killer ended a process in algo-2's container "
        "at its memory limit of 512 MiB, ml.m5.large with instance limits scaled:0.0625; exit "
        "code 137)")
    assert OUT_OF_MEMORY.startswith("AlgorithmError: OutOfMemoryError: ")
    # The toolkit's failure file hides the cause: the OOM text leads, the file's text follows.
    toolkit = HostEnd("algo-1", 1, oom_killed=True,
                      failure_file="ExecuteUserScriptError:\nExitCode 137")
    reason = failure_reason(toolkit)
    assert reason.startswith(f"{OUT_OF_MEMORY} (smemu: the kernel's OOM killer ended a process "
                             "in algo-1's container; it had no memory limit")
    assert reason.endswith(") AlgorithmError: ExecuteUserScriptError:\nExitCode 137")
    assert len(failure_reason(HostEnd("algo-1", 137, True, "x" * 5000))) == 1024


def test_a_sigkill_that_is_no_oom_kill_is_no_out_of_memory() -> None:
    assert failure_reason(HostEnd("algo-1", 137)) == \
        "AlgorithmError: Algorithm exited with a non-zero exit code 137"
    assert failure_reason(HostEnd("algo-1", 2, failure_file="boom")) == "AlgorithmError: boom"
    assert failure_reason(HostEnd("algo-1", None)).startswith("InternalServerError: ")


# -- the runner, on a fake engine -------------------------------------------------------------
BUCKET = "limits-fake"


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    """The unit tests' module-scoped moto server (tests/unit/conftest.py), with the bucket."""
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


def run_job(moto: MotoS3, tmp_path: Path, script: Script, limits: str,
            stop_after: float | None = None,
            other: Script | None = None) -> tuple[TrainingJob, FakeEngine]:
    clock = ManualClock(start=time.time())
    name = f"job-{time.time_ns()}"
    request = training_request(name, BUCKET, resource={"InstanceGroups": [
            {"InstanceGroupName": "a", "InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            {"InstanceGroupName": "b", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1}],
        "VolumeSizeInGB": 1})
    settings = JobSettings(grace_period=1.0, instance_limits=limits)
    engine = FakeEngine({"algo-1": script, "algo-2": other or Script()}, clock,
                        machine_size=Machine(cpus=2, memory_bytes=24 * GIB))

    def schedule_stop(runner: JobRunner) -> None:
        if stop_after is not None:
            clock.call_at(clock.now() + stop_after, runner.control.request_stop)

    job = run_to_end(request, settings, engine, clock, s3_url=moto.endpoint,
                     workdir=tmp_path / "work", before_start=schedule_stop)
    return job, engine


def test_each_host_gets_its_types_limits_and_an_oom_fails_the_job(moto: MotoS3,
                                                                  tmp_path: Path) -> None:
    job, engine = run_job(moto, tmp_path, Script(exit_after=0.5, code=137, oom=True),
                          "scaled:0.25")
    specs = {h.spec.host: h.spec for h in engine.handles}
    assert (specs["algo-1"].cpus, specs["algo-1"].memory_bytes) == (1.0, 4 * GIB)
    assert (specs["algo-2"].cpus, specs["algo-2"].memory_bytes) == (1.0, 2 * GIB)
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason is not None
    assert job.failure_reason.startswith(f"{OUT_OF_MEMORY} (smemu: the kernel's OOM killer "
                                         "ended a process in algo-1's container at its memory "
                                         "limit of 4 GiB, ml.m5.xlarge with instance limits "
                                         "scaled:0.25; exit code 137)")
    assert job.attempts[0].oom_killed and job.attempts[0].flags == []


def test_a_capped_limit_is_flagged_on_the_attempt(moto: MotoS3, tmp_path: Path) -> None:
    job, engine = run_job(moto, tmp_path, Script(exit_after=0.5), "full",
                          other=Script(exit_after=0.5))
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    assert {(h.spec.cpus, h.spec.memory_bytes) for h in engine.handles} == {
        (2.0, 16 * GIB), (2.0, 8 * GIB)}
    assert [f.split(":")[0] for f in job.attempts[0].flags] == ["instance limits capped"] * 2


def test_a_stopped_job_is_never_out_of_memory(moto: MotoS3, tmp_path: Path) -> None:
    """A stop's SIGKILL (exit 137) on a container Docker also marks OOMKilled: Stopped."""
    job, engine = run_job(moto, tmp_path, Script(oom=True), "full", stop_after=0.5)
    assert job.status == contract.JobStatus.STOPPED
    assert not job.failure_reason and not job.attempts[0].oom_killed
    assert all(h.code == 137 for h in engine.handles)
