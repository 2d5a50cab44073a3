"""Every trigger kind fires where it says; flush vs lose; torn files; MaxWait; SIGTERM ignored;
an interrupt by hand only while Training."""

from __future__ import annotations

import hashlib
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import (
    EndpointProcess,
    interrupt_job,
    job_log,
    sigterm_step,
    toy_request,
    toy_value,
    wait_for_job,
    wait_for_status,
)
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

WRITER_IMAGE = session_image("smemu-test-writer")
# a.bin is written and closed; once S3 has it, b.bin is opened and written slowly, never closed.
WRITER = textwrap.dedent("""
    import datetime, hashlib, hmac, os, signal, time, urllib.parse, urllib.request
    ckpt = "/opt/ml/checkpoints"

    def signed_head(url):
        # SigV4 by hand (the image has no boto3): S3, like AWS, refuses an unsigned HEAD of a
        # private object with 403, and the wait below would then only end by its timeout.
        parts = urllib.parse.urlsplit(url)
        amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        region = os.environ["AWS_DEFAULT_REGION"]
        payload = hashlib.sha256(b"").hexdigest()
        headers = {"host": parts.netloc, "x-amz-content-sha256": payload,
                   "x-amz-date": amz_date}
        names = ";".join(sorted(headers))
        canonical = "\\n".join(["HEAD", parts.path, "",
                               *(k + ":" + headers[k] for k in sorted(headers)), "",
                               names, payload])
        scope = amz_date[:8] + "/" + region + "/s3/aws4_request"
        to_sign = "\\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
        for part in (amz_date[:8], region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["Authorization"] = ("AWS4-HMAC-SHA256 Credential=" +
                                    os.environ["AWS_ACCESS_KEY_ID"] + "/" + scope +
                                    ", SignedHeaders=" + names + ", Signature=" + signature)
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD", headers=headers),
                               timeout=5)
    if os.path.exists(ckpt + "/a.bin"):  # a later attempt: nothing more to test
        raise SystemExit(0)
    if os.environ.get("IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, lambda *a: print("SIGTERM ignored", flush=True))
    with open(ckpt + "/a.bin", "wb") as f:
        f.write(b"a" * 1000)
    url = os.environ["AWS_ENDPOINT_URL_S3"] + "/" + os.environ["BUCKET"] + "/" + \\
        os.environ["PREFIX"] + "/a.bin"
    for _ in range(100):
        try:
            signed_head(url)
            break
        except Exception as err:
            failure = err
            time.sleep(0.1)
    else:  # never silently: the triggers below would race the job's limits
        raise SystemExit("a.bin never reached S3: " + repr(failure))
    print("A UPLOADED", flush=True)
    f = open(ckpt + "/b.bin", "wb")
    f.write(b"b" * 1000)
    f.flush()
    print("B WRITTEN", flush=True)
    for _ in range(300):
        time.sleep(0.1)
        f.write(b"b")
        f.flush()
""")


@pytest.fixture(scope="module")
def writer_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, WRITER_IMAGE, WRITER)
    docker_client.images.remove(WRITER_IMAGE, force=True)


def writer_request(name: str, bucket: str, plan: str, flush: str = "flush",
                   **environment: str) -> dict[str, Any]:
    request = toy_request(name, checkpoint_uri=f"s3://{bucket}/{name}", bucket=bucket,
                          tags=[{"Key": "smemu:interrupt", "Value": plan},
                                {"Key": "smemu:checkpoint-flush", "Value": flush}])
    request["AlgorithmSpecification"]["TrainingImage"] = WRITER_IMAGE
    request["Environment"] = {"BUCKET": bucket, "PREFIX": name, **environment}
    request["StoppingCondition"] = {"MaxRuntimeInSeconds": 20, "MaxWaitTimeInSeconds": 20}
    return request


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    return sorted(o["Key"][len(prefix) + 1:] for o in listed.get("Contents", []))


def first_attempt(endpoint: EndpointProcess, name: str) -> dict[str, Any]:
    return dict(endpoint.report(name)["Attempts"][0])


def test_hard_kill_mid_write_flush_mode_uploads_the_torn_file(
        endpoint: EndpointProcess, writer_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    sagemaker.create_training_job(**writer_request(job_name, bucket, "checkpoint-write=2/hard"))
    job = wait_for_job(sagemaker, job_name, timeout=90)
    attempt = first_attempt(endpoint, job_name)
    assert attempt["Outcome"] == "interrupted" and attempt["SigKilled"] is True
    assert attempt["GracePeriodSeconds"] == 0
    assert attempt["TornFiles"] == ["b.bin"]
    assert any("torn checkpoint" in f and "b.bin" in f for f in attempt["Flags"])
    assert keys(s3, bucket, job_name) == ["a.bin", "b.bin"]  # flush: nothing lost
    assert attempt["MirrorVerified"] is True
    assert "Interrupted" in [t["Status"] for t in job["SecondaryStatusTransitions"]]


def test_hard_kill_lose_mode_loses_exactly_the_unsynced_file(
        endpoint: EndpointProcess, writer_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    sagemaker.create_training_job(**writer_request(job_name, bucket, "log=B.WRITTEN/hard",
                                                   flush="lose"))
    wait_for_job(sagemaker, job_name, timeout=90)
    attempt = first_attempt(endpoint, job_name)
    assert attempt["Interruption"] == "log=B.WRITTEN/hard"
    assert attempt["TornFiles"] == ["b.bin"]
    assert keys(s3, bucket, job_name) == ["a.bin"]  # b.bin was never uploaded: lost
    assert attempt["MirrorVerified"] is False
    assert any("b.bin" in d for d in attempt["MirrorDifferences"])


def test_container_ignoring_sigterm_is_flagged(endpoint: EndpointProcess, writer_image: str,
                                               sagemaker: Any, bucket: str,
                                               job_name: str) -> None:
    sagemaker.create_training_job(**writer_request(job_name, bucket, "log=B.WRITTEN/grace=1s",
                                                   IGNORE_SIGTERM="1"))
    wait_for_job(sagemaker, job_name, timeout=90)
    attempt = first_attempt(endpoint, job_name)
    assert attempt["SigKilled"] is True and attempt["GracePeriodSeconds"] == 1
    assert any("ignored SIGTERM" in f for f in attempt["Flags"])
    assert "SIGTERM ignored" in job_log(endpoint, job_name)


def run_toy(sagemaker: Any, name: str, bucket: str, plan: str, steps: int = 40,
            seconds_per_step: float = 0.1, **spot: Any) -> dict[str, Any]:
    request = toy_request(name, steps=steps, checkpoint_uri=f"s3://{bucket}/{name}",
                          bucket=bucket, tags=[{"Key": "smemu:interrupt", "Value": plan}],
                          seconds_per_step=str(seconds_per_step))
    request["StoppingCondition"].update(spot)
    sagemaker.create_training_job(**request)
    return wait_for_job(sagemaker, name, timeout=120)


def test_checkpoint_trigger_fires_right_after_the_nth_upload(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    # 1 s per step, a checkpoint every 5: the 3rd checkpoint comes 5 s after the 2nd upload.
    job = run_toy(sagemaker, job_name, bucket, "checkpoint=2", steps=20, seconds_per_step=1.0)
    assert job["TrainingJobStatus"] == "Completed"
    step = sigterm_step(job_log(endpoint, job_name))
    assert 10 <= step < 15  # the 2nd checkpoint is step 10; interrupted before the 3rd
    first = endpoint.report(job_name)["Attempts"][0]
    assert first["Interruption"] == "checkpoint=2"
    # Exactly two uploads came before the interruption, the second the step-10 checkpoint.
    before = [u for u in first["CheckpointsUploaded"] if u["at"] <= first["InterruptedAt"]]
    step_10 = json.dumps({"step": 10, "value": toy_value(10)}, sort_keys=True,
                         separators=(",", ":")).encode()
    assert [u["path"] for u in before] == ["checkpoint.json"] * 2
    assert before[-1]["sha256"] == hashlib.sha256(step_10).hexdigest()
    # The toy trainer checkpoints on SIGTERM: that checkpoint, uploaded after the interruption,
    # is the newest in S3, so what was lost is the time between its write and the exit.
    last = first["CheckpointsUploaded"][-1]
    assert last["at"] > first["InterruptedAt"] and first["LastUploadAt"] == last["at"]
    assert first["LostTrainingSeconds"] < 5.0  # less than one checkpoint interval was lost


def test_log_trigger_fires_on_the_matching_line(endpoint: EndpointProcess, sagemaker: Any,
                                                bucket: str, job_name: str) -> None:
    # 1 s per step: SIGTERM reaches the trainer during step 18 unless the machine is very slow.
    run_toy(sagemaker, job_name, bucket, "log=step.17/22", steps=22, seconds_per_step=1.0)
    assert 17 <= sigterm_step(job_log(endpoint, job_name)) <= 19


def test_start_trigger_interrupts_before_the_container_runs(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    job = run_toy(sagemaker, job_name, bucket, "start", steps=5)
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses[:4] == ["Starting", "Downloading", "Interrupted", "Starting"]
    assert job["TrainingJobStatus"] == "Completed"
    first = endpoint.report(job_name)["Attempts"][0]
    assert first["TrainingStartedAt"] is None and first["Outcome"] == "interrupted"


def test_seeded_random_plan_is_reproducible(endpoint: EndpointProcess, sagemaker: Any,
                                           bucket: str, job_name: str) -> None:
    planned = []
    for run in ("a", "b"):
        name = f"{job_name}-{run}"
        run_toy(sagemaker, name, bucket, "random=1.5s:7", steps=40)
        attempt = endpoint.report(name)["Attempts"][0]
        assert attempt["Outcome"] == "interrupted"
        assert attempt["TrainingSeconds"] >= attempt["PlannedAfterSeconds"]
        planned.append(attempt["PlannedAfterSeconds"])
    assert planned[0] == planned[1]


def test_never_launched_job_ends_max_wait_time_exceeded(sagemaker: Any, bucket: str,
                                                       job_name: str) -> None:
    job = run_toy(sagemaker, job_name, bucket, "wait=1h", MaxRuntimeInSeconds=2,
                  MaxWaitTimeInSeconds=2)
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Stopping", "MaxWaitTimeExceeded"]
    assert job["TrainingJobStatus"] == "Stopped"
    assert "TrainingStartTime" not in job


def test_interrupted_until_max_wait_runs_out(sagemaker: Any, bucket: str,
                                             job_name: str) -> None:
    # MaxWait leaves room for a slow start on a loaded machine (15 s was too little beside
    # the other xdist workers); the capacity gap outlasts it.
    job = run_toy(sagemaker, job_name, bucket, "after=1s/capacity=1h", MaxRuntimeInSeconds=15,
                  MaxWaitTimeInSeconds=30)
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Downloading", "Training", "Interrupted", "Stopping",
                        "MaxWaitTimeExceeded"]


def test_at_trigger_fires_at_job_wall_time(endpoint: EndpointProcess, sagemaker: Any,
                                           bucket: str, job_name: str) -> None:
    # 3 s without capacity first, so training starts 3+ s after creation: a trigger counting
    # training time would fire 3+ s later than one counting wall time since creation.
    job = run_toy(sagemaker, job_name, bucket, "wait=3s at=8s", steps=100)
    first = endpoint.report(job_name)["Attempts"][0]
    assert first["Interruption"] == "at=8s"
    created = job["CreationTime"].timestamp()
    assert first["TrainingStartedAt"] - created >= 3.0
    assert first["InterruptedAt"] - created >= 8.0  # never early
    # Well before 8 s of training: the clock is the job's wall time, not its training time.
    assert first["InterruptedAt"] < first["TrainingStartedAt"] + 8.0 - 1.0


# Attempt 1 sits out its grace (it ignores SIGTERM); attempt 2 finds attempt 1's checkpoint
# restored and completes by itself 3 s later.
TWO_ATTEMPTS = ("if [ -e /opt/ml/checkpoints/attempt-1 ]; then sleep 3; exit 0; fi; "
                "touch /opt/ml/checkpoints/attempt-1; exec sleep 1000")


def test_interrupt_only_while_training(endpoint: EndpointProcess, sagemaker: Any, bucket: str,
                                       job_name: str) -> None:
    request = toy_request(job_name, checkpoint_uri=f"s3://{bucket}/{job_name}", bucket=bucket,
                          tags=[{"Key": "smemu:grace-period", "Value": "10s"}])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", TWO_ATTEMPTS]}
    sagemaker.create_training_job(**request)
    wait_for_status(sagemaker, job_name, "Training")
    assert interrupt_job(endpoint, job_name)[0] == 200
    status, body = interrupt_job(endpoint, job_name)  # the first one is still ending the attempt
    assert status == 400 and "can only be injected while it is Training" in body
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert statuses.count("Training") == 2
    assert statuses.count("Interrupted") == 1  # the refused request never fired later
    attempts = endpoint.report(job_name)["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["interrupted", "completed"]
    assert [a["Interruption"] for a in attempts] == ["manual", None]
