"""`smemu:s3-faults ... scope=container`: a training container's own boto3 calls through the
endpoint are faulted, and boto3's standard and adaptive retries get them through; a client with
retries off fails, and neither the host's S3 calls nor another job's container are touched."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support import figures
from tests.support.endpoint import EndpointProcess, read_model_tar, wait_for_job, wait_for_status
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

IMAGE = session_image("smemu-test-s3-retries")
INJECTED_CODES = {"SlowDown", "InternalError"}
TALLY = figures.Tally("s3-faults-in-containers")  # the README's Reliability figure

# MODE=faulted: puts and gets with retries on (they must all succeed), a 20 MiB multipart upload
# and ranged download, then gets with retries off (some fail); MODE=clean: puts and gets with
# retries off (none may fail). Both start on the test's `go` object (once both jobs train), put
# `<job>/done` when through, and end on its `release` object (once both are done): their calls
# run while the other job runs. MODE=outage: retries off until S3 refuses (the outage began),
# then one put and get with adaptive retries, which outlast it. Each counts every request its
# clients sent and which were retries (from botocore's amz-sdk-request header), and writes what
# it saw to /opt/ml/model/seen.json.
SCRIPT = textwrap.dedent("""
    import collections, io, json, os, time
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import ClientError

    bucket, mode = os.environ["BUCKET"], os.environ["MODE"]
    prefix = os.environ["TRAINING_JOB_NAME"]
    seen = {"sent": 0, "retries": 0, "failures": collections.Counter(), "calls": 0}

    def count(request, **_):  # every HTTP request the clients send, and which are retries
        seen["sent"] += 1
        header = request.headers.get("amz-sdk-request") or ""
        header = header.decode() if isinstance(header, bytes) else header
        attempt = dict(item.strip().partition("=")[::2] for item in header.split(";"))
        seen["retries"] += int(attempt.get("attempt", "1")) > 1

    def client(attempts, mode="standard"):
        s3 = boto3.client("s3", config=Config(
            retries={"mode": mode, "total_max_attempts": attempts},
            connect_timeout=30, read_timeout=300))
        s3.meta.events.register("before-send.s3", count)
        return s3

    retrying, single = client(40), client(1)

    def call(s3, method, **kwargs):
        seen["calls"] += 1
        return getattr(s3, method)(Bucket=bucket, **kwargs)

    def calls_without_retries(count):
        for i in range(count):
            try:
                if mode == "clean":
                    call(single, "put_object", Key=f"{prefix}/c{i}", Body=b"clean")
                call(single, "get_object", Key=f"{prefix}/c{i % 3}")["Body"].read()
            except ClientError as err:
                seen["failures"][err.response["Error"]["Code"]] += 1

    def wait_for(key):
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                return call(retrying, "head_object", Key=key)
            except ClientError as err:
                if err.response["Error"]["Code"] not in ("404", "NoSuchKey"):
                    raise
            time.sleep(0.3)
        raise SystemExit(f"the test never wrote {key}")

    if mode in ("faulted", "clean"):
        wait_for("go")
        if mode == "faulted":
            for i in range(15):
                body = (f"object {i} " * 500).encode()
                call(retrying, "put_object", Key=f"{prefix}/c{i}", Body=body)
                assert call(retrying, "get_object", Key=f"{prefix}/c{i}")["Body"].read() == body
            # A multipart upload and a ranged download: 8 MiB bodies answered with errors.
            data = os.urandom(20 * 1024 * 1024)
            parts = TransferConfig(multipart_threshold=8 * 1024 * 1024,
                                   multipart_chunksize=8 * 1024 * 1024, use_threads=False)
            retrying.upload_fileobj(io.BytesIO(data), bucket, f"{prefix}/big", Config=parts)
            got = io.BytesIO()
            retrying.download_fileobj(bucket, f"{prefix}/big", got, Config=parts)
            seen["multipart_intact"] = got.getvalue() == data
        calls_without_retries(30)
        call(retrying, "put_object", Key=f"{prefix}/done", Body=b"")
        wait_for("release")
    else:
        deadline = time.monotonic() + 120
        while "ServiceUnavailable" not in seen["failures"] and time.monotonic() < deadline:
            try:
                call(single, "put_object", Key=f"{prefix}/probe", Body=b"probe")
            except ClientError as err:
                seen["failures"][err.response["Error"]["Code"]] += 1
            time.sleep(0.2)
        adaptive = client(40, "adaptive")
        call(adaptive, "put_object", Key=f"{prefix}/after", Body=b"after the outage")
        got = call(adaptive, "get_object", Key=f"{prefix}/after")["Body"].read()
        seen["after"] = got.decode()
    with open("/opt/ml/model/seen.json", "w") as f:
        json.dump(seen, f)
""")


@pytest.fixture(scope="module")
def retries_image(docker_client: Any) -> Iterator[str]:
    """The script on the toolkit image, which has boto3."""
    yield build_script_image(docker_client, IMAGE, SCRIPT, base="smemu-toolkit-trainer:latest")
    docker_client.images.remove(IMAGE, force=True)


def request(name: str, bucket: str, mode: str, faults: str | None) -> dict[str, Any]:
    tags = [{"Key": "smemu:s3-faults", "Value": faults}] if faults else []
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        "Environment": {"BUCKET": bucket, "MODE": mode},
        "Tags": tags,
    }


def seen_by(sagemaker: Any, s3: Any, name: str) -> dict[str, Any]:
    job = wait_for_job(sagemaker, name, timeout=600)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return dict(json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
        "seen.json"]))


def host_client(endpoint: EndpointProcess) -> Any:
    """The user's own S3 calls from the host, with retries off: one fault would fail them."""
    return boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def _exists(s3: Any, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key)["KeyCount"])


def injected(endpoint: EndpointProcess, name: str) -> dict[str, Any]:
    faults = endpoint.report(name)["S3Faults"]
    assert isinstance(faults, dict)
    return faults


def test_container_retries_outlast_injected_errors_and_nothing_else_is_faulted(
        retries_image: str, endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    faulted, clean = f"{job_name}-faulted", f"{job_name}-clean"
    sagemaker.create_training_job(**request(faulted, bucket, "faulted",
                                            "errors=0.3 seed=5 scope=container"))
    sagemaker.create_training_job(**request(clean, bucket, "clean", None))
    for name in (faulted, clean):
        wait_for_status(sagemaker, name, "Training", timeout=300)
    # Both jobs run from here to the release: the host's calls and the clean container's meet
    # the faulted job's route, and must not be faulted.
    host = host_client(endpoint)
    host.put_object(Bucket=bucket, Key="go", Body=b"")
    for i in range(30):
        host.put_object(Bucket=bucket, Key=f"host/{i}", Body=b"from the host")
        assert host.get_object(Bucket=bucket, Key=f"host/{i}")["Body"].read() == b"from the host"
        TALLY.add(host_calls_unfaulted=2)  # a put and a get, retries off: neither faulted
    deadline = time.monotonic() + 300
    while not all(_exists(host, bucket, f"{name}/done") for name in (faulted, clean)):
        assert time.monotonic() < deadline, "the containers did not get through their calls"
        for name in (faulted, clean):
            status = sagemaker.describe_training_job(TrainingJobName=name)
            assert status["TrainingJobStatus"] == "InProgress", status.get("FailureReason")
        time.sleep(0.5)
    host.put_object(Bucket=bucket, Key="release", Body=b"")

    seen = seen_by(sagemaker, s3, faulted)
    assert seen["retries"] > 0  # the retried calls met errors, and got through
    assert seen["multipart_intact"] is True
    assert seen["failures"] and set(seen["failures"]) <= INJECTED_CODES  # retries off: fails
    counts = injected(endpoint, faulted)
    # Every injected error was either retried by boto3 or surfaced to the retry-less client.
    assert sum(counts["errors"].values()) == seen["retries"] + sum(seen["failures"].values())
    # Each request the container sent was decided once, and nothing else was: the job's
    # mirror traffic (its model upload) was not in scope.
    assert counts["requests"] == seen["sent"]
    assert counts["retries"] == seen["retries"]  # the endpoint saw boto3's retries as such
    assert counts["backoff_seconds"] > 0
    assert not counts["outage_refusals"]

    untouched = seen_by(sagemaker, s3, clean)
    assert untouched["failures"] == {} and untouched["retries"] == 0
    assert untouched["calls"] >= 62  # its 60, and polls for go, done and release
    assert "S3Faults" not in endpoint.report(clean)
    TALLY.add(jobs_faulted=1, clean_jobs_untouched=1,
              injected_errors=sum(counts["errors"].values()), retries=counts["retries"])


def test_an_outage_refuses_the_containers_calls_until_adaptive_retries_get_through(
        retries_image: str, endpoint: EndpointProcess, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    sagemaker.create_training_job(**request(job_name, bucket, "outage",
                                            "outage=2s+20s scope=container"))
    seen = seen_by(sagemaker, s3, job_name)
    assert seen["failures"] == {"ServiceUnavailable": 1}  # retries off: refused at once
    # The adaptive client met the outage too, and its retries waited it out.
    assert seen["retries"] > 0 and seen["after"] == "after the outage"
    counts = injected(endpoint, job_name)
    assert counts["outage_refusals"] == 1 + seen["retries"]  # each refusal seen by a client
    assert counts["retries"] == seen["retries"]
    assert counts["requests"] == seen["sent"]
    assert not counts["errors"]
    TALLY.add(jobs_faulted=1, outage_refusals=counts["outage_refusals"],
              retries=counts["retries"])


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
