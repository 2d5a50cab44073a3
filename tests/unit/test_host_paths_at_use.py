"""The code directory is resolved again when the job starts its containers (a scripted
engine, virtual time): what was allowed at CreateTrainingJob and re-linked since is refused,
and Docker is handed the real path, not the link."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from emulator import contract
from emulator.jobs.clock import ManualClock
from emulator.jobs.host_paths import HostPaths
from emulator.jobs.model import TrainingJob
from emulator.jobs.settings import JobSettings
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end
from tests.unit._s3server import MotoS3

BUCKET = "host-paths-fake"


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    """The unit tests' module-scoped moto server (tests/unit/conftest.py), with the bucket."""
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


def _run(moto: MotoS3, tmp_path: Path, code_dir: str, roots: list[Path]) -> tuple[
        TrainingJob, FakeEngine]:
    clock = ManualClock(start=time.time())
    request = {
        "TrainingJobName": "code", "RoleArn": "arn:aws:iam::123456789012:role/r",
        "AlgorithmSpecification": {"TrainingImage": "fake:latest", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}}
    engine = FakeEngine({"algo-1": Script(exit_after=0.2)}, clock)
    job = run_to_end(request, JobSettings(code_dir=code_dir), engine, clock,
                     s3_url=moto.endpoint, workdir=tmp_path / "work",
                     host_paths=HostPaths.of(roots))
    return job, engine


def test_the_code_dir_is_mounted_by_its_real_path_and_refused_once_relinked_out(
        moto: MotoS3, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "src").mkdir(parents=True)
    outside.mkdir()
    (root / "current").symlink_to(root / "src")  # a link inside the root, to the root
    job, engine = _run(moto, tmp_path, f"{root}/current", [root])
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    assert [h.spec.code_mount for h in engine.handles] == [(str(root / "src"), "/opt/ml/code")]

    (root / "current").unlink()
    (root / "current").symlink_to(outside)  # after CreateTrainingJob allowed it
    job, engine = _run(moto, tmp_path / "again", f"{root}/current", [root])
    assert job.status == contract.JobStatus.FAILED
    assert job.failure_reason.startswith("ClientError: Tag smemu:code-dir names the host path")
    assert engine.handles == []  # no container got the directory
