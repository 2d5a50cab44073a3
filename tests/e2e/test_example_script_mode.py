"""Script mode, as users run it: examples/script_mode/sdk_v2.py (a framework estimator with
entry_point + source_dir) and examples/aws_cli/run.sh (the same job as a --cli-input-json file),
each a subprocess against the session's endpoint, on smemu-script-mode (the toolkit image with
an empty /opt/ml/code). Each is interrupted once after its 3rd checkpoint upload and must
resume from a checkpoint, to the model of an uninterrupted run."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from emulator.testing import JobResult, read_result
from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EPOCHS = 12


def _user_env(endpoint: EndpointProcess) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SMEMU_"))}
    return {**env, "SMEMU_ENDPOINT_URL": endpoint.url, "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def expected_model(epochs: int, lr: float = 0.1) -> dict[str, float]:
    """What src/train.py ends with when nothing interrupts it (its own code, run here)."""
    spec = importlib.util.spec_from_file_location("script_mode_train",
                                                  EXAMPLES / "script_mode" / "src" / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)  # the example's entry point: its data()
    points, w, b = train.data(), 0.0, 0.0
    for _ in range(epochs):
        grad_w = sum(2 * (w * x + b - y) * x for x, y in points) / len(points)
        grad_b = sum(2 * (w * x + b - y) for x, y in points) / len(points)
        w, b = w - lr * grad_w, b - lr * grad_b
    return {"w": w, "b": b}


def assert_resumed_script_mode_job(result: JobResult) -> None:
    assert result.status == "Completed", result.failure_reason
    assert result.statuses.count("Interrupted") == 1, result.statuses
    first, second = result.attempts
    assert (first.resume, second.resume) == ("fresh-start", "resumed")
    # The toolkit leaves SIGTERM unanswered: the interruption ended in SIGKILL.
    assert first.sigkilled and any("ignored SIGTERM" in flag for flag in first.flags), first.flags
    logs = result.logs()
    resumed = re.search(r"resumed from checkpoint at epoch (\d+)", logs)
    assert resumed and 3 <= int(resumed.group(1)) < EPOCHS, logs
    assert f"training complete: epoch {EPOCHS}" in logs
    model = json.loads(result.model_files()["model.json"])
    assert model == expected_model(EPOCHS)  # the resumed run's model is the uninterrupted one


def test_sdk_v2_framework_estimator_script_mode(endpoint: EndpointProcess, bucket: str,
                                                job_name: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "script_mode" / "sdk_v2.py"), "--endpoint-url",
         endpoint.url, "--bucket", bucket, "--job-name", job_name, "--epochs", str(EPOCHS)],
        capture_output=True, text=True, timeout=600, env=_user_env(endpoint))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{job_name}: Completed (" in done.stdout and "Interrupted" in done.stdout
    result = read_result(endpoint, job_name)
    # The SDK uploaded src/ as sourcedir.tar.gz and named it for the toolkit.
    hyperparameters = result.describe["HyperParameters"]
    assert hyperparameters["sagemaker_program"] == '"train.py"'
    assert hyperparameters["sagemaker_submit_directory"].endswith('/sourcedir.tar.gz"')
    assert_resumed_script_mode_job(result)


def test_aws_cli_input_json_script_mode(endpoint: EndpointProcess, job_name: str) -> None:
    done = subprocess.run(["bash", str(EXAMPLES / "aws_cli" / "run.sh"), endpoint.url],
                          capture_output=True, text=True, timeout=600,
                          env={**_user_env(endpoint), "JOB_NAME": job_name})
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{job_name}: Completed" in done.stdout
    result = read_result(endpoint, job_name)
    assert result.describe["CheckpointConfig"]["S3Uri"] == \
        f"s3://script-mode/checkpoints/{job_name}"
    assert_resumed_script_mode_job(result)



def test_sdk_v3_model_trainer_source_code_script_mode(endpoint: EndpointProcess, bucket: str,
                                                      sdk_v3_python: Path) -> None:
    base = f"v3-{uuid.uuid4().hex[:8]}"
    done = subprocess.run(
        [str(sdk_v3_python), str(EXAMPLES / "script_mode" / "sdk_v3.py"), "--endpoint-url",
         endpoint.url, "--bucket", bucket, "--base-job-name", base, "--epochs", str(EPOCHS)],
        capture_output=True, text=True, timeout=600, env=_user_env(endpoint))
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(rf"^({base}-\S+): Completed \(.*Interrupted", done.stdout, re.MULTILINE)
    assert found, done.stdout + done.stderr
    result = read_result(endpoint, found.group(1))
    # SourceCode: the SDK's drivers as a channel, bash as the entry point.
    channels = [c["ChannelName"] for c in result.describe["InputDataConfig"]]
    assert "sm_drivers" in channels and "code" in channels, channels
    assert result.describe["AlgorithmSpecification"]["ContainerEntrypoint"][0] == "/bin/bash"
    assert_resumed_script_mode_job(result)
