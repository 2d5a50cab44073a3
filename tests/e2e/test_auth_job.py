"""A real spot job, interrupted, with checkpoints, on an endpoint that checks signatures
(`--auth`): `smemu run`'s clients, the checkpoint mirror, the artifact upload and the training
container's own boto3 (through the S3 gateway) all sign with the endpoint's keys."""

from __future__ import annotations

import os
import re
import shutil
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulator.testing import Endpoint
from tests.e2e.test_cli import smemu
from tests.support.endpoint import TOY_IMAGE, toy_value

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT_SCRIPT = ROOT / "images" / "toolkit-trainer" / "train.py"
KEYS = "AKIDJOBTEST:job-secret"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
SDK_CONFIG = {"SchemaVersion": "1.0",
              "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
# Runs in the container first: its platform credentials get in, others are refused.
CONTAINER_PROBE = '''\
def main() -> int:
    import boto3, botocore.exceptions, os
    log(f"container key: {os.environ['AWS_ACCESS_KEY_ID']}")
    boto3.client("s3").list_buckets()
    log("container s3 with the platform keys: ok")
    try:
        boto3.client("s3", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key="wrong").list_buckets()
    except botocore.exceptions.ClientError as err:
        log(f"container s3 with a wrong secret: {err.response['Error']['Code']}")
'''


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    # The jobs' code dirs are under pytest's temporary root: the endpoint may read them.
    with Endpoint(auth=KEYS, grace_period=10, allow_paths=[tmp_path_factory.getbasetemp()],
                  state_dir=tmp_path_factory.mktemp("auth-job")) as started:
        yield started


def test_an_interrupted_spot_job_resumes_with_auth_on(endpoint: Endpoint, tmp_path: Path
                                                      ) -> None:
    code = tmp_path / "src"
    code.mkdir()
    shutil.copy(TOOLKIT_SCRIPT, code / "train.py")
    script = (code / "train.py").read_text()
    (code / "train.py").write_text(script.replace("def main() -> int:\n", CONTAINER_PROBE, 1))
    no_keys = {k: v for k, v in os.environ.items() if not k.startswith("SMEMU_AUTH")}
    name = f"auth-job-{os.getpid()}"
    bucket = f"auth-job-{os.getpid()}"
    run = smemu("run", "--endpoint-url", endpoint.url, "--auth", KEYS, "--job-name", name,
                "--code", str(code), "--entry-point", "train.py", "--spot", "--max-wait", "600",
                "--checkpoint-s3-uri", f"s3://{bucket}/ckpt", "--output-path",
                f"s3://{bucket}/output", "-H", "total_steps=20", "-H", "seconds_per_step=0.15",
                "-H", "checkpoint_interval=4", "--interrupt", "checkpoint=2/hard",
                env=no_keys, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "container key: AKIDJOBTEST" in out
    assert "container s3 with the platform keys: ok" in out
    assert "container s3 with a wrong secret: SignatureDoesNotMatch" in out
    resumed = re.search(r"resumed from checkpoint at step (\d+)", out)
    assert resumed and 8 <= int(resumed.group(1)) < 20, out
    assert f"training complete: step 20 value={toy_value(20)}" in out

    job = endpoint.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    s3 = endpoint.s3_client()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.startswith("ckpt/") for k in keys), keys  # the mirror's uploads got in
    assert f"output/{name}/output/model.tar.gz" in keys, keys

    # The other commands sign with $SMEMU_AUTH; without it they are refused in AWS's words.
    listed = smemu("jobs", "list", "--endpoint-url", endpoint.url,
                   env={**no_keys, "SMEMU_AUTH": KEYS})
    assert listed.returncode == 0 and name in listed.stdout, listed.stderr
    logs = smemu("logs", name, "--endpoint-url", endpoint.url,
                 env={**no_keys, "SMEMU_AUTH": KEYS})
    assert logs.returncode == 0 and "training complete" in logs.stdout, logs.stderr
    checkpoints = smemu("checkpoints", "ls", name, "--endpoint-url", endpoint.url,
                        env={**no_keys, "SMEMU_AUTH": KEYS})
    assert checkpoints.returncode == 0, checkpoints.stderr
    refused = smemu("jobs", "list", "--endpoint-url", endpoint.url, env=no_keys)
    assert refused.returncode == 2
    assert "UnrecognizedClientException: The security token included in the request is " \
           "invalid." in refused.stderr


def test_the_sagemaker_sdk_fits_an_interrupted_spot_job_with_auth_on(
        endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    import boto3
    import botocore.exceptions
    import sagemaker
    from sagemaker.estimator import Estimator

    access_key, secret = KEYS.split(":")
    for key, value in {"AWS_ENDPOINT_URL": endpoint.url, "AWS_ACCESS_KEY_ID": access_key,
                       "AWS_SECRET_ACCESS_KEY": secret, "AWS_DEFAULT_REGION": "us-east-1",
                       "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # Only to keep it fast: the SDK's log tailer polls on time.time(); its clock runs x30.
    fast_time = types.ModuleType("time")
    fast_time.__dict__.update(vars(time))
    fast_time.time = lambda: time.monotonic() * 30  # type: ignore[attr-defined]
    monkeypatch.setattr(sagemaker.session, "time", fast_time)
    session_class = sagemaker.session.Session
    monkeypatch.setattr(session_class.logs_for_job, "__defaults__", (False, 1, "All", None))
    monkeypatch.setattr(session_class.wait_for_job, "__defaults__", (1,))
    bucket = f"auth-sdk-{os.getpid()}"
    endpoint.s3_client().create_bucket(Bucket=bucket)
    session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"),
                                default_bucket=bucket, sagemaker_config=SDK_CONFIG)
    name = f"auth-sdk-{os.getpid()}"
    estimator = Estimator(
        image_uri=TOY_IMAGE, role=ROLE, instance_count=1, instance_type="ml.m5.large",
        sagemaker_session=session, use_spot_instances=True, max_run=600, max_wait=900,
        checkpoint_s3_uri=f"s3://{bucket}/checkpoints", output_path=f"s3://{bucket}/output",
        hyperparameters={"total_steps": "12", "seconds_per_step": "0.05",
                         "checkpoint_interval": "4"},
        tags=[{"Key": "smemu:interrupt", "Value": "after=0.4s"}])
    estimator.fit(job_name=name, logs=True)
    out = capsys.readouterr().out
    assert "Interrupted - " in out and "Completed - Training job completed" in out, out
    assert "training complete: step 12" in out  # the container's output, through Logs
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    wrong = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"),
                              default_bucket=bucket, sagemaker_config=SDK_CONFIG)
    with pytest.raises(botocore.exceptions.ClientError, match="InvalidSignatureException"):
        wrong.describe_training_job(name)
