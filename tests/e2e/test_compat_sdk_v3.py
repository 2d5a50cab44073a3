"""The SageMaker Python SDK v3: `ModelTrainer(...).train()` runs a spot job with checkpoints
against the endpoint, interrupted once and resumed, with nothing set but what points the SDK at
it (AWS_ENDPOINT_URL, dummy credentials, a region): no role, no SAGEMAKER_VALIDATE_ROLE. SDK v3
has a venv of its own (tests/e2e/sdk_v3_venv.py; `make test` builds it), and the script runs
there, in a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import TOY_IMAGE, EndpointProcess, read_model_tar, toy_value

pytestmark = pytest.mark.docker

SCRIPT = '''
import json, sys
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import (
    CheckpointConfig, Compute, OutputDataConfig, StoppingCondition, Tag)

args = json.loads(sys.argv[1])
trainer = ModelTrainer(
    training_image=args["image"],
    base_job_name="sdk-v3",
    compute=Compute(instance_type="ml.m5.large", instance_count=1,
                    enable_managed_spot_training=True),
    stopping_condition=StoppingCondition(max_runtime_in_seconds=600,
                                         max_wait_time_in_seconds=900),
    checkpoint_config=CheckpointConfig(s3_uri=args["checkpoint_uri"]),
    # Without it the SDK names a default bucket by asking STS at AWS's own address.
    output_data_config=OutputDataConfig(s3_output_path=args["output_path"]),
    hyperparameters=args["hyperparameters"],
    tags=[Tag(key="smemu:interrupt", value="checkpoint=1")],
)
trainer.train()  # its defaults: wait, and show the logs
print("SDK-V3-JOB", trainer._latest_training_job.training_job_name, flush=True)
'''



def test_model_trainer_runs_a_spot_job_with_checkpoints(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, tmp_path: Path,
        sdk_v3_python: Path) -> None:
    home = tmp_path / "home"  # no ~/.aws, no SageMaker config file of the machine's user
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "AWS_ENDPOINT_URL": endpoint.url,
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    args = {"image": TOY_IMAGE, "checkpoint_uri": f"s3://{bucket}/sdk-v3-checkpoints",
            "output_path": f"s3://{bucket}/output",
            "hyperparameters": {"total_steps": "30", "checkpoint_interval": "5",
                                "seconds_per_step": "0.1"}}
    done = subprocess.run([str(sdk_v3_python), "-c", SCRIPT, json.dumps(args)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = re.search(r"^SDK-V3-JOB (\S+)$", done.stdout, re.MULTILINE)
    assert found, output
    job = sagemaker.describe_training_job(TrainingJobName=found.group(1))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["EnableManagedSpotTraining"] and job["CheckpointConfig"]["S3Uri"] == args[
        "checkpoint_uri"]
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses.count("Interrupted") == 1, statuses
    # Resumed from its checkpoint: the model equals an uninterrupted run's.
    model = json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
        "model.json"])
    assert model == {"step": 30, "value": toy_value(30)}
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="sdk-v3-checkpoints")[
        "Contents"]]
    assert keys == ["sdk-v3-checkpoints/checkpoint.json"]
    (first, second) = [a["Resume"] for a in endpoint.report(job["TrainingJobName"])["Attempts"]]
    assert (first, second) == ("fresh-start", "resumed")
