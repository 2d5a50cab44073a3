"""S3 faults on smemu's own S3 traffic (scope mirror), with real Docker and the real endpoint:
nothing is lost. S3 ends equal to what the container wrote, by manifest (the container hashes
its checkpoint directory into the model; the test hashes the S3 prefix), at a 20 % error rate,
through an outage in the middle of a large multipart upload and one spanning an interruption's
flush; and an outage still on at the end fails the job, never Completed."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.checkpoints.manifest import s3_manifest
from emulator.contract import INTERNAL_FAILURE
from tests.support import figures
from tests.support.endpoint import (
    EndpointProcess,
    job_log,
    read_model_tar,
    toy_request,
    wait_for_job,
)

pytestmark = pytest.mark.docker

CKPT = "/opt/ml/checkpoints"
# The container's own proof of its checkpoint directory at its end: path and sha256 of every
# file (markers left out), into the model.
MANIFEST = (f"cd {CKPT} && find . -type f ! -name '*.sagemaker-*' -exec sha256sum {{}} + "
            "> /opt/ml/model/manifest.txt")
JOB_TIMEOUT_S = 600  # room for retries through outages on a loaded machine
TALLY = figures.Tally("s3-faults-mirror")  # the README's Reliability figure


def script_request(name: str, bucket: str, script: str, faults: str, *,
                   checkpoints: bool = True, spot: bool = False,
                   **tags: str) -> dict[str, Any]:
    request = toy_request(name, spot=spot, checkpoint_uri=f"s3://{bucket}/{name}/"
                          if checkpoints else None, bucket=bucket,
                          tags=[{"Key": "smemu:s3-faults", "Value": faults},
                                *({"Key": k, "Value": v} for k, v in tags.items())])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", 'eval "$SCRIPT"']}
    request["Environment"] = {"SCRIPT": script}
    request.pop("HyperParameters")
    return request


def run(endpoint: EndpointProcess, request: dict[str, Any]) -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    sagemaker = endpoint.client("sagemaker")
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, request["TrainingJobName"], timeout=JOB_TIMEOUT_S)
    return job, endpoint.report(request["TrainingJobName"])


def container_manifest(s3: Any, job: dict[str, Any]) -> dict[str, str]:
    text = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["manifest.txt"]
    return {path.removeprefix("./"): sha for sha, path in
            (line.split(maxsplit=1) for line in text.decode().splitlines())}


def s3_hashes(s3: Any, uri: str) -> dict[str, str]:
    return {path: entry.sha256 for path, entry in s3_manifest(s3, uri).items()}


def tally_faults(report: dict[str, Any], **counts: int) -> None:
    faults = report["S3Faults"]
    TALLY.add(injected_errors=sum(faults["errors"].values()),
              outage_refusals=faults["outage_refusals"], retries=faults["retries"], **counts)


def completed(job: dict[str, Any]) -> None:
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")


def test_a_20_percent_error_rate_loses_nothing(endpoint: EndpointProcess, s3: Any,
                                               bucket: str, job_name: str) -> None:
    # Small files, rewrites, a deletion and a 20 MiB file (multipart: 3 parts).
    script = f"""
for i in $(seq 1 12); do echo "step $i" > {CKPT}/step-$i.txt; sleep 0.1; done
for i in 1 2 3; do head -c 4096 /dev/urandom > {CKPT}/state.bin; sleep 0.3; done
head -c 20971520 /dev/urandom > {CKPT}/weights.bin
rm {CKPT}/step-1.txt
echo model > /opt/ml/model/model.txt
sleep 2
{MANIFEST}
"""
    job, report = run(endpoint, script_request(job_name, bucket, script, "errors=0.2 seed=7"))
    completed(job)
    expected = container_manifest(s3, job)
    assert len(expected) == 13 and "weights.bin" in expected and "step-1.txt" not in expected
    assert s3_hashes(s3, f"s3://{bucket}/{job_name}/") == expected
    assert report["Attempts"][-1]["MirrorVerified"] is True
    faults = report["S3Faults"]
    assert sum(faults["errors"].values()) > 0 and faults["retries"] > 0, faults
    assert set(faults["errors"]) <= {"SlowDown", "InternalError"}, faults
    tally_faults(report, jobs_lossless=1, manifests_equal=1)


def test_an_outage_in_the_middle_of_a_large_multipart_upload(
        endpoint: EndpointProcess, s3: Any, bucket: str, job_name: str) -> None:
    # 96 MiB in 12 parts of 8 MiB, each at most 2 MiB/s, 4 at a time: the upload takes 12 s
    # or more, so an outage from 6 s of training, once it has begun (the script says when),
    # falls in its middle. The mirror keeps retrying while the job runs: the script waits for
    # the upload to be done (SageMaker's marker) before it ends, so no final flush helps.
    script = f"""
head -c 100663296 /dev/urandom > {CKPT}/big.bin
while [ ! -f {CKPT}/big.bin.sagemaker-uploading ]; do sleep 0.1; done
echo "upload started"
i=0
while [ ! -f {CKPT}/big.bin.sagemaker-uploaded ]; do
  sleep 0.2; i=$((i + 1)); [ $i -lt 1500 ] || {{ echo "never uploaded" >&2; exit 3; }}
done
{MANIFEST}
"""
    job, report = run(endpoint, script_request(
        job_name, bucket, script, "outage=6s+10s bandwidth=2MiB/s"))
    completed(job)
    assert s3_hashes(s3, f"s3://{bucket}/{job_name}/") == container_manifest(s3, job)
    attempt = report["Attempts"][-1]
    assert attempt["MirrorVerified"] is True
    faults = report["S3Faults"]
    assert faults["outage_refusals"] > 0 and faults["retries"] > 0, faults
    # The upload had begun before the outage and was done only after it: the outage hit it.
    started = attempt["TrainingStartedAt"]
    uploads = [u for u in attempt["CheckpointsUploaded"] if u["path"] == "big.bin"]
    assert uploads and uploads[-1]["at"] - started >= 16, (uploads, started)
    assert any("upload started" in line for line in job_log(endpoint, job_name))
    tally_faults(report, jobs_lossless=1, manifests_equal=1)


def test_an_outage_spanning_an_interruptions_flush(endpoint: EndpointProcess, s3: Any,
                                                   bucket: str, job_name: str) -> None:
    # Attempt 1: checkpoint 1 is uploaded before the outage (from 6 s of training, 20 s
    # long); checkpoint 2 is written during it, and the job is SIGKILLed at once. The flush
    # after the kill waits for S3 and uploads checkpoint 2: attempt 2 resumes from it.
    script = f"""
if [ -f {CKPT}/state.txt ]; then
  cp {CKPT}/state.txt /opt/ml/model/resumed.txt; {MANIFEST}; exit 0
fi
echo 1 > {CKPT}/state.txt
while [ ! -f {CKPT}/state.txt.sagemaker-uploaded ]; do sleep 0.1; done
sleep 8
echo 2 > {CKPT}/state.txt
head -c 1048576 /dev/urandom > {CKPT}/optimizer.bin
echo GO-NOW
exec sleep 120
"""
    request = script_request(job_name, bucket, script, "outage=6s+20s", spot=True,
                             **{"smemu:interrupt": "log=GO-NOW/hard"})
    job, report = run(endpoint, request)
    completed(job)
    first, second = report["Attempts"]
    assert first["Outcome"] == "interrupted" and first["SigKilled"], first
    assert first["MirrorVerified"] is True, first["MirrorDifferences"]
    # The kill came during the outage (from 6 s to 26 s of training time), and the flush after
    # it uploaded checkpoint 2 once the outage was over.
    started = first["TrainingStartedAt"]
    assert 6 <= first["InterruptedAt"] - started < 26, first
    flushed = [u for u in first["CheckpointsUploaded"] if u["path"] == "optimizer.bin"]
    assert flushed and flushed[-1]["at"] - started >= 26, (flushed, started)
    assert read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["resumed.txt"] == b"2\n"
    assert {f["path"] for f in second["CheckpointsRestored"]} == {"state.txt", "optimizer.bin"}
    assert s3_hashes(s3, f"s3://{bucket}/{job_name}/") == container_manifest(s3, job)
    assert report["S3Faults"]["outage_refusals"] > 0, report["S3Faults"]
    tally_faults(report, jobs_lossless=1, manifests_equal=1)


def test_an_outage_still_on_at_the_end_fails_the_job(endpoint: EndpointProcess, s3: Any,
                                                     bucket: str, job_name: str) -> None:
    script = f"sleep 3; echo weights > {CKPT}/model.ckpt; echo m > /opt/ml/model/m.txt; sleep 1"
    job, report = run(endpoint, script_request(job_name, bucket, script, "outage=1s+1000s",
                                               **{"smemu:s3-wait": "5s"}))
    assert job["TrainingJobStatus"] == "Failed", job
    reason = job["FailureReason"]
    assert reason.startswith(f"{INTERNAL_FAILURE} (smemu: 1 checkpoint file(s) not in S3, S3 "
                             "still failing after 5s of retries (smemu:s3-wait)"), reason
    assert "model.ckpt" in reason and "ServiceUnavailable" in reason, reason
    assert "ModelArtifacts" not in job or not job["ModelArtifacts"].get("S3ModelArtifacts")
    assert s3_hashes(s3, f"s3://{bucket}/{job_name}/") == {}
    assert report["Attempts"][-1]["MirrorVerified"] is False
    tally_faults(report, failed_not_completed=1)


def test_a_model_s3_never_takes_fails_the_job(endpoint: EndpointProcess, s3: Any,
                                              bucket: str, job_name: str) -> None:
    script = "sleep 3; echo m > /opt/ml/model/m.txt"
    job, report = run(endpoint, script_request(job_name, bucket, script, "outage=1s+1000s",
                                          checkpoints=False, **{"smemu:s3-wait": "5s"}))
    assert job["TrainingJobStatus"] == "Failed", job
    assert job["FailureReason"].startswith(
        f"{INTERNAL_FAILURE} (smemu: the model was not uploaded to s3://{bucket}/output/"
        f"{job_name}/output/model.tar.gz, S3 still failing after 5s"), job["FailureReason"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key=f"output/{job_name}/output/model.tar.gz")
    tally_faults(report, failed_not_completed=1)


def test_an_invalid_spec_is_a_validation_exception_at_create(
        endpoint: EndpointProcess, bucket: str, job_name: str) -> None:
    request = script_request(job_name, bucket, "true", "errors=2x")
    with pytest.raises(ClientError) as caught:
        endpoint.client("sagemaker").create_training_job(**request)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "Invalid emulator tag: smemu:s3-faults: invalid S3 fault 'errors=2x': use a percentage "
        "such as 20% (or a fraction such as 0.2)")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
