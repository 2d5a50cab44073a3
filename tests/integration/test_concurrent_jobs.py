"""Jobs side by side on one endpoint: the instance quota (ResourceLimitExceeded over the wire, in
SageMaker's words), and 8 spot jobs at once, each interrupted twice, with no cross-talk in their
checkpoints, logs, statuses or reports."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.jobs.quota import quota_message
from tests.support import figures
from tests.support.endpoint import (
    EndpointProcess,
    job_log,
    quick_toy_request,
    read_model_tar,
    toy_request,
    toy_value,
    wait_for_job,
)

pytestmark = pytest.mark.docker
JOBS = 8
BUCKET = "concurrent"
TWO_INTERRUPTIONS = [{"Key": "smemu:interrupt", "Value": "checkpoint=1 checkpoint=1"}]
RNG = (6364136223846793005, 1442695040888963407, 2 ** 64)  # the toy trainer's generator
TALLY = figures.Tally("concurrent-jobs")  # the README's Reliability figure


@pytest.fixture(scope="module")
def eight(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[
        EndpointProcess]:
    """An endpoint of its own whose quota is exactly 8 instances."""
    state = tmp_path_factory.mktemp("concurrent")
    with EndpointProcess(state, "--max-training-instances", str(JOBS),
                         "--grace-period", "20s") as endpoint:
        endpoint.client("s3").create_bucket(Bucket=BUCKET)
        yield endpoint


def toy_noise(seed: int, steps: int) -> int:
    """What the toy trainer's seeded generator adds up over `steps` (its formula)."""
    multiplier, increment, modulus = RNG
    rng, noise = seed, 0
    for _ in range(steps):
        rng = (rng * multiplier + increment) % modulus
        noise = (noise + (rng >> 33)) % 1000000007
    return noise


def rejection(sagemaker: Any, request: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_training_job(**request)
    return dict(caught.value.response["Error"])


def test_a_job_over_the_quota_is_resource_limit_exceeded(eight: EndpointProcess) -> None:
    sagemaker = eight.client("sagemaker")
    assert eight.health()["max_training_instances"] == JOBS
    request = quick_toy_request("too-big", BUCKET)
    request["ResourceConfig"]["InstanceCount"] = JOBS + 1
    error = rejection(sagemaker, request)
    assert error == {"Code": "ResourceLimitExceeded",
                     "Message": quota_message(JOBS, 0, JOBS + 1)}
    # Refused, not created: the name is free and nothing is listed.
    assert sagemaker.list_training_jobs(NameContains="too-big")["TrainingJobSummaries"] == []


def test_eight_spot_jobs_at_once_each_interrupted_twice_keep_to_themselves(
        eight: EndpointProcess, tmp_path: Path) -> None:
    sagemaker, s3 = eight.client("sagemaker"), eight.client("s3")
    # Each job its own step count and seed: whatever leaked from one job into another (a
    # checkpoint restored, a log line) would show in its numbers. An attempt is interrupted
    # right after its first checkpoint upload (step 4); the rest of the steps are the margin
    # an attempt needs not to end before that upload lands (8 containers share the CPUs).
    jobs = {f"side-{n}": (40 + n, 100 + n) for n in range(JOBS)}  # name: (steps, seed)
    for name, (steps, seed) in jobs.items():
        sagemaker.create_training_job(**toy_request(
            name, steps=steps, checkpoint_uri=f"s3://{BUCKET}/ckpt/{name}/", bucket=BUCKET,
            tags=TWO_INTERRUPTIONS, checkpoint_interval="4", seconds_per_step="0.1",
            rng_seed=str(seed)))
    # All 8 instances are in use now (created jobs count at once): a ninth is refused.
    error = rejection(sagemaker, quick_toy_request("ninth", BUCKET))
    assert error == {"Code": "ResourceLimitExceeded", "Message": quota_message(JOBS, JOBS, 1)}

    with ThreadPoolExecutor(JOBS) as pool:
        described = dict(zip(jobs, pool.map(lambda n: wait_for_job(sagemaker, n, 600), jobs),
                             strict=True))

    listed = sagemaker.list_training_jobs(NameContains="side-")["TrainingJobSummaries"]
    assert sorted(s["TrainingJobName"] for s in listed) == sorted(jobs)
    for name, (steps, seed) in jobs.items():
        job = described[name]
        statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        attempts = eight.report(name)["Attempts"]
        if job["TrainingJobStatus"] != "Completed" or statuses.count("Interrupted") != 2:
            pytest.fail(f"{name}: {job['TrainingJobStatus']} {job.get('FailureReason')} "
                        f"{statuses}\n{json.dumps(attempts, indent=1)}")
        # Its model: its own steps and its own seed's noise, resumed exactly twice.
        model = json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
            "model.json"])
        assert model == {"step": steps, "value": toy_value(steps),
                         "noise": toy_noise(seed, steps)}, name
        TALLY.add(jobs=1, models_exact=1, interruptions=statuses.count("Interrupted"),
                  attempts=len(attempts),
                  manifests_equal=sum(a["MirrorVerified"] is True for a in attempts))
        # Its checkpoint prefix: only its own checkpoint, of its own run.
        checkpoint = json.loads(s3.get_object(Bucket=BUCKET, Key=f"ckpt/{name}/checkpoint.json")[
            "Body"].read())
        assert checkpoint["noise"] == toy_noise(seed, checkpoint["step"]), name
        # Its report: three attempts, each on its own log stream, the first two interrupted.
        assert [a["Interruption"] for a in attempts] == ["checkpoint=1", "checkpoint=1", None]
        assert all(a["LogStream"].startswith(f"{name}/algo-1-") for a in attempts), name
        assert len({a["LogStream"] for a in attempts}) == 3
        assert [a["Resume"] for a in attempts][1:] == ["resumed", "resumed"], name
        restored = [f["path"] for a in attempts[1:] for f in a["CheckpointsRestored"]]
        assert restored == ["checkpoint.json", "checkpoint.json"], name
        # Its logs: only its own lines (its name, its step count, its seed).
        lines = job_log(eight, name)
        starts = [line for line in lines if line.startswith("training job: ")]
        assert starts == [f"training job: {name} on algo-1"] * 3, (name, starts)
        counted = {m.group(1) for line in lines if (m := re.match(r"step \d+/(\d+) ", line))}
        assert counted == {str(steps)}, name
        assert all(f'"rng_seed": "{seed}"' in line for line in lines
                   if line.startswith("hyperparameters: ")), name

    # Under ckpt/ nothing but one checkpoint per job, in its own prefix.
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix="ckpt/") for o in page.get("Contents", [])]
    assert sorted(keys) == sorted(f"ckpt/{name}/checkpoint.json" for name in jobs)

    # Every instance is free again: the next job is accepted.
    sagemaker.create_training_job(**quick_toy_request("after-all", BUCKET, steps=2))
    assert wait_for_job(sagemaker, "after-all")["TrainingJobStatus"] == "Completed"


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
