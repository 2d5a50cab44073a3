"""Real Docker, a real `smemu serve --verbose` on its embedded disk S3: an interrupted job's
restore reads its checkpoint from the disk S3 in the endpoint's process, and sends no GET of it
over HTTP to itself (the access log says which requests reached the S3 application); with
`smemu:s3-faults` covering the mirror, the restore goes over HTTP, where the faults are."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, toy_attempt, toy_request, wait_for_job

pytestmark = pytest.mark.docker

ONE_INTERRUPTION = {"Key": "smemu:interrupt", "Value": "checkpoint=1"}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[
        EndpointProcess]:
    state = tmp_path_factory.mktemp("restore-in-process")
    with EndpointProcess(state, "--s3-backend", "disk", "--verbose",
                         "--grace-period", "10s") as ep:
        yield ep


def requests_for(log: str, method: str, bucket: str, prefix: str) -> list[str]:
    """The access log's `METHOD /bucket/key` request lines for objects under ``prefix`` (not
    the listings, which name the bucket alone)."""
    pattern = re.compile(rf'"{method} /{re.escape(bucket)}/{re.escape(prefix)}[^ ?"]* HTTP/')
    return pattern.findall(log)


def resumed_job(endpoint: EndpointProcess, bucket: str, name: str,
                *tags: dict[str, str]) -> tuple[str, str]:
    """A toy job interrupted after its first checkpoint, resumed from it to its end; (its
    checkpoint prefix as a key, the endpoint's log of it)."""
    sagemaker, s3 = endpoint.client("sagemaker"), endpoint.client("s3")
    prefix = f"checkpoints/{name}/"
    sagemaker.create_training_job(**toy_request(name, steps=20, checkpoint_uri=f"s3://{bucket}/"
                                                f"{prefix}", bucket=bucket,
                                                tags=[ONE_INTERRUPTION, *tags]))
    job = wait_for_job(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    attempts = endpoint.report(name)["Attempts"]
    assert [a["Outcome"] for a in attempts] == ["interrupted", "completed"]
    assert {f["path"] for f in attempts[1]["CheckpointsRestored"]} == {"checkpoint.json"}
    assert toy_attempt(s3, job)["resumed_from"] > 0  # the container read what was restored
    return prefix, endpoint.log_text()


def test_the_restore_reads_the_disk_s3_in_process(endpoint: EndpointProcess, bucket: str,
                                                  job_name: str) -> None:
    prefix, log = resumed_job(endpoint, bucket, job_name)
    # The mirror's uploads still go over HTTP (so the log does show this job's requests) ...
    assert requests_for(log, "PUT", bucket, prefix)
    # ... but nothing of the checkpoint was fetched that way: not by the restore, nor by
    # the end-of-attempt proof.
    assert requests_for(log, "GET", bucket, prefix) == []


def test_with_faults_on_the_mirror_the_restore_goes_over_http(endpoint: EndpointProcess,
                                                              bucket: str,
                                                              job_name: str) -> None:
    faults = {"Key": "smemu:s3-faults", "Value": "latency=5ms scope=mirror"}
    prefix, log = resumed_job(endpoint, bucket, job_name, faults)
    assert requests_for(log, "GET", bucket, prefix + "checkpoint.json")
    assert endpoint.report(job_name)["S3Faults"]["requests"] > 0  # through the injector


def test_the_request_pattern_matches_the_access_logs_lines() -> None:
    """The pattern above against lines of the access log's shape (the first test's PUTs show
    it reads the real one)."""
    line = ('2026-12-01 18:41:23,662 DEBUG emulator.server.access 127.0.0.1 '
            '"GET /b/checkpoints/j/checkpoint.json HTTP/1.1" 206 -')
    listing = ('2026-12-01 18:41:23,662 DEBUG emulator.server.access 127.0.0.1 '
               '"GET /b?list-type=2&prefix=checkpoints%2Fj%2F&encoding-type=url HTTP/1.1" 200 -')
    assert requests_for(line, "GET", "b", "checkpoints/j/") != []
    assert requests_for(listing, "GET", "b", "checkpoints/") == []
