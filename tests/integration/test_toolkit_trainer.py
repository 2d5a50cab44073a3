"""A real sagemaker-training toolkit image under smemu: it starts, resumes, and the report is true.

The image (images/toolkit-trainer, built by `make images`) installs the toolkit from wheels and
runs it the way its README shows (user code in /opt/ml/code, SAGEMAKER_PROGRAM=train.py). The
toolkit waits until algo-1 resolves, reads /opt/ml/input/config/*.json, exports SM_*, runs
`python3 train.py --hp value ...` and does not forward SIGTERM: every interrupted attempt ends
in SIGKILL at the end of the grace period, and the report must say so.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.support.endpoint import (
    EndpointProcess,
    read_model_tar,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker

TOOLKIT_IMAGE = "smemu-toolkit-trainer:latest"
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
TRAIN_PY = Path(__file__).resolve().parents[2] / "images" / "toolkit-trainer" / "train.py"


@pytest.fixture(scope="module", autouse=True)
def toolkit_image(docker_client: Any) -> str:
    try:
        docker_client.images.get(TOOLKIT_IMAGE)
    except Exception:
        pytest.fail(f"{TOOLKIT_IMAGE} is missing: run `make images` (make test does it)")
    return TOOLKIT_IMAGE


def toolkit_request(name: str, bucket: str, *, steps: int, plan: str | None = None,
                    grace: str = "2s", checkpoint: bool = True, spot: bool = True,
                    **hyperparameters: str) -> dict[str, Any]:
    tags = [{"Key": "smemu:grace-period", "Value": grace}]
    if plan:
        tags.append({"Key": "smemu:interrupt", "Value": plan})
    request = toy_request(name, steps=steps, spot=spot, bucket=bucket, tags=tags,
                          checkpoint_uri=f"s3://{bucket}/checkpoints/{name}" if checkpoint
                          else None, **hyperparameters)
    request["AlgorithmSpecification"]["TrainingImage"] = TOOLKIT_IMAGE
    return request


def model_of(s3: Any, job: dict[str, Any]) -> dict[str, Any]:
    files = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    return dict(json.loads(files["model.json"]))


def attempt_log(endpoint: EndpointProcess, attempt: dict[str, Any]) -> list[str]:
    events = endpoint.client("logs").get_log_events(
        logGroupName=LOG_GROUP, logStreamName=attempt["LogStream"], startFromHead=True)
    return [e["message"] for e in events["events"]]


def test_toolkit_job_resumes_after_an_ignored_sigterm(endpoint: EndpointProcess, sagemaker: Any,
                                                      s3: Any, bucket: str,
                                                      job_name: str) -> None:
    steps = 80
    sagemaker.create_training_job(**toolkit_request(job_name, bucket, steps=steps,
                                                    plan="checkpoint=2"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    # The toolkit started under smemu: it resolved algo-1, built SM_* from the config files
    # and ran the script from /opt/ml/code, which wrote the model to SM_MODEL_DIR.
    model = model_of(s3, job)
    env = model["toolkit_env"]
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"]
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_DIR"] == "/opt/ml/code"
    assert env["TRAINING_JOB_NAME"] == job_name
    # Resumed, not restarted: the same value as an uninterrupted run.
    assert model["step"] == steps
    assert model["value"] == toy_value(steps)
    assert model["resumed_from"] is not None and model["resumed_from"] >= 10
    assert model["steps_run_this_attempt"] == steps - model["resumed_from"]

    first, second = endpoint.report(job_name)["Attempts"]
    # SIGTERM went to the toolkit (PID 1, no handler), not to the script: SIGKILL at the end
    # of the grace period, and the report says why.
    assert first["Outcome"] == "interrupted" and first["Interruption"] == "checkpoint=2"
    assert first["SigKilled"] is True and first["ExitCode"] == 137
    assert first["GracePeriodSeconds"] == 2
    assert any(f.startswith("ignored SIGTERM") for f in first["Flags"]), first["Flags"]
    first_log = attempt_log(endpoint, first)
    assert "starting from scratch at step 0" in first_log
    assert not any("SIGTERM received" in line for line in first_log)  # never forwarded
    assert second["Outcome"] == "completed" and second["SigKilled"] is False
    assert second["Resume"] == "resumed"
    assert second["RestoredFilesRead"] == ["checkpoint.json"]
    assert f"resumed from checkpoint at step {model['resumed_from']}" in attempt_log(
        endpoint, second)


def test_toolkit_job_that_never_checkpoints_restarts_from_scratch(
        endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    # Long after step 5: the interruption (a log line seen, then SIGTERM, then the 1 s grace)
    # must come before the script ends by itself, even on a loaded machine.
    steps = 100
    # `log=`: there is no checkpoint to trigger on; `.` stands for the space in "step 5/".
    sagemaker.create_training_job(**toolkit_request(
        job_name, bucket, steps=steps, plan="log=step.5/", grace="1s",
        never_checkpoint="true"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    model = model_of(s3, job)
    assert model["resumed_from"] is None
    assert model["steps_run_this_attempt"] == steps  # all of it again, in attempt 2
    assert model["value"] == toy_value(steps)

    attempts = endpoint.report(job_name)["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["interrupted", "completed"]
    assert all(a["CheckpointsUploaded"] == [] for a in attempts)
    assert all(a["CheckpointsRestored"] == [] for a in attempts)
    # Nothing was restored, so nothing could be resumed: a fresh start, not "resumed".
    assert [a["Resume"] for a in attempts] == ["fresh-start", "fresh-start"]
    assert attempts[0]["SigKilled"] is True
    assert any(f.startswith("ignored SIGTERM") for f in attempts[0]["Flags"])
    assert "starting from scratch at step 0" in attempt_log(endpoint, attempts[1])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"checkpoints/{job_name}/")
    assert listed.get("KeyCount", 0) == 0


def test_toolkit_failure_file_becomes_the_failure_reason(sagemaker: Any, bucket: str,
                                                         job_name: str) -> None:
    sagemaker.create_training_job(**toolkit_request(job_name, bucket, steps=20, spot=False,
                                                    checkpoint=False, fail_at_step="3"))
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Failed"
    # The toolkit writes /opt/ml/output/failure itself: "ExecuteUserScriptError:\nExitCode 1
    # \nErrorMessage ...\nCommand ...".
    reason = job["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"), reason
    assert "train.py" in reason


def test_toolkit_script_mode_downloads_the_source_dir_from_s3(endpoint: EndpointProcess,
                                                              sagemaker: Any, s3: Any,
                                                              bucket: str, job_name: str) -> None:
    """The SDK's script mode: sourcedir.tar.gz in S3, named by sagemaker_submit_directory;
    the toolkit fetches it with boto3 through smemu's S3 (AWS_ENDPOINT_URL_S3) when
    /opt/ml/code is empty."""
    source = io.BytesIO()
    with tarfile.open(fileobj=source, mode="w:gz") as tar:
        tar.add(TRAIN_PY, arcname="train.py")
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=source.getvalue())
    request = toolkit_request(job_name, bucket, steps=3, spot=False, checkpoint=False)
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
        "sh", "-c", "rm -rf /opt/ml/code/* && exec train"]
    request["HyperParameters"].update({
        "sagemaker_program": json.dumps("train.py"),
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
    })
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert model_of(s3, job)["value"] == toy_value(3)
    (attempt,) = endpoint.report(job_name)["Attempts"]
    assert any("/opt/ml/code  is empty, unzipping" in line
               for line in attempt_log(endpoint, attempt))


def test_toolkit_runs_on_every_host_of_a_two_instance_job(endpoint: EndpointProcess,
                                                           sagemaker: Any, s3: Any, bucket: str,
                                                           job_name: str) -> None:
    # The toolkit waits until every host in resourceconfig.json resolves: with both hosts'
    # addresses in /etc/hosts from the start, it goes on at once and runs the script on each.
    request = toolkit_request(job_name, bucket, steps=3, checkpoint=False, spot=False)
    request["ResourceConfig"]["InstanceCount"] = 2
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    (attempt,) = endpoint.report(job_name)["Attempts"]
    logs = endpoint.client("logs")
    for host in attempt["Hosts"]:
        events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=host["LogStream"],
                                     startFromHead=True)["events"]
        text = "\n".join(e["message"] for e in events)
        assert f"training job: {job_name} on {host['Host']}" in text, text[-2000:]
        assert host["ExitCode"] == 0
    assert model_of(s3, job)["step"] == 3
