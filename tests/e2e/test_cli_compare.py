"""`smemu run --compare-uninterrupted`: the toy trainer resumes exactly (its model is identical
to an uninterrupted run's), the variant that reseeds its RNG on a restart is flagged."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import TOY_IMAGE, EndpointProcess

pytestmark = pytest.mark.docker

FAST = ("-H", "total_steps=20", "-H", "seconds_per_step=0.1", "-H", "checkpoint_interval=5")


def _run(endpoint: EndpointProcess, bucket: str, job_name: str, *flags: str) -> list[str]:
    return ["run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE, "--job-name", job_name,
            "--spot", "--max-wait", "600", "--checkpoint-s3-uri", f"s3://{bucket}/{job_name}/",
            "--output-path", f"s3://{bucket}/out", "--interrupt", "checkpoint=1",
            "--grace-period", "10s", "--compare-uninterrupted", *FAST, *flags]


def test_an_exact_resume_compares_identical(endpoint: EndpointProcess, bucket: str,
                                            job_name: str) -> None:
    result = smemu(*_run(endpoint, bucket, job_name), "--no-logs")

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Created training job {job_name}-uninterrupted (the same request, no " \
           "interruption plan" in result.stdout
    assert f"Compared with the uninterrupted run {job_name}-uninterrupted: identical" \
        in result.stdout
    assert "resumed" in result.stdout  # the attempt table: it was interrupted, and resumed


def test_a_resume_without_the_rng_state_is_flagged(endpoint: EndpointProcess, bucket: str,
                                                   job_name: str) -> None:
    result = smemu(*_run(endpoint, bucket, job_name), "-H", "rng_seed=7", "-H", "restore_rng=false",
                   "--json")

    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["TrainingJobStatus"] == "Completed"
    assert [a["Resume"] for a in doc["SmemuReport"]["Attempts"]] == ["fresh-start", "resumed"]
    comparison = doc["SmemuComparison"]
    assert comparison["UninterruptedJob"] == f"{job_name}-uninterrupted"
    assert comparison["Result"] == "different"
    (difference,) = comparison["Differences"]
    assert difference.startswith("model.json (sha256 ")
    assert difference.endswith(" uninterrupted)")


def test_compare_cannot_detach(endpoint: EndpointProcess, bucket: str, job_name: str) -> None:
    refused = smemu(*_run(endpoint, bucket, job_name), "--detach")
    assert refused.returncode == 2
    assert "--compare-uninterrupted compares the jobs at their end" in refused.stderr
