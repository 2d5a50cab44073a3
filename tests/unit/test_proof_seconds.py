"""How long the end-of-attempt proof took, and each checkpoint upload: recorded on the attempt,
in its report and in the stored history (the real runner on a scripted FakeEngine, a real S3).

The job runs on a ManualClock, and the proof is made to take 2.5 s of it: what the attempt
says is the proof's own duration on the job's clock, whatever the machine's load."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import contract
from emulator.jobs import attempt as attempt_module
from emulator.jobs.clock import ManualClock
from emulator.jobs.history import dump_job, load_job
from emulator.jobs.model import Attempt, CheckpointFile, TrainingJob
from emulator.jobs.settings import JobSettings
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end, training_request
from tests.unit._s3server import MotoS3

BUCKET = "proof-seconds"
PROOF = 2.5  # virtual seconds the proof takes


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


def write_checkpoint(dirs: Any) -> None:
    if dirs.checkpoints.is_dir():  # a job with a CheckpointConfig
        (dirs.checkpoints / "state.bin").write_bytes(os.urandom(4096))


def run_job(moto: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
            checkpoints: bool) -> tuple[TrainingJob, list[str]]:
    """One host writes a checkpoint and exits; the proof takes PROOF seconds of the clock.
    Returns the job and the checkpoint directories the proof compared."""
    clock = ManualClock(start=time.time())
    proved: list[str] = []
    real_verify = attempt_module.verify_mirror

    def slow_verify(client: Any, uri: str, local: Path, known: Any = None) -> list[str]:
        proved.append(str(local))
        clock.advance(PROOF)
        return real_verify(client, uri, local, known)

    monkeypatch.setattr(attempt_module, "verify_mirror", slow_verify)
    name = f"proof-{time.time_ns()}"
    request = training_request(name, BUCKET)
    if checkpoints:
        request["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/ckpt/{name}"}
    engine = FakeEngine({"algo-1": Script(exit_after=1.0, before_exit=write_checkpoint)}, clock)
    job = run_to_end(request, JobSettings(), engine, clock, s3_url=moto.endpoint,
                     workdir=tmp_path / "work")
    return job, proved


def test_the_proof_and_the_uploads_are_timed(moto: MotoS3, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    job, proved = run_job(moto, tmp_path, monkeypatch, checkpoints=True)
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    (attempt,) = job.attempts
    assert len(proved) == 1 and attempt.mirror_verified
    assert attempt.proof_seconds == PROOF
    (upload,) = attempt.uploaded
    assert upload.path == "state.bin" and upload.seconds is not None and upload.seconds >= 0
    report = attempt.to_dict()
    assert report["ProofSeconds"] == PROOF
    (uploaded,) = report["CheckpointsUploaded"]
    assert uploaded["seconds"] == upload.seconds and uploaded["at"] == upload.at
    # The stored history keeps both.
    stored = load_job(dump_job(job)).attempts[0]
    assert stored.proof_seconds == PROOF and stored.uploaded[0].seconds == upload.seconds


def test_no_checkpoint_config_no_proof(moto: MotoS3, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    job, proved = run_job(moto, tmp_path, monkeypatch, checkpoints=False)
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    assert proved == [] and job.attempts[0].proof_seconds is None
    assert job.attempts[0].to_dict()["ProofSeconds"] is None


def test_a_restored_file_has_no_upload_seconds() -> None:
    attempt = Attempt(1, 0.0, restored=[CheckpointFile("state.bin", 1, "ab")])
    assert attempt.to_dict()["CheckpointsRestored"] == [
        {"path": "state.bin", "size": 1, "sha256": "ab", "at": None, "written_at": None}]
