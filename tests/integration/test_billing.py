"""TrainingTimeInSeconds and BillableTimeInSeconds: the spot price ratio from
`smemu serve --spot-price-ratio` and from the tag `smemu:spot-price-ratio`, to the second."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.endpoint import EndpointProcess, toy_request, wait_for_job

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def half_price(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    """An endpoint whose spot jobs bill half their training time."""
    state: Path = tmp_path_factory.mktemp("half-price")
    with EndpointProcess(state, "--spot-price-ratio", "0.5", "--grace-period", "10s") as ep:
        yield ep


def test_spot_price_ratio_from_the_endpoint_and_from_the_tag(half_price: EndpointProcess,
                                                             job_name: str) -> None:
    sagemaker = half_price.client("sagemaker")
    half_price.client("s3").create_bucket(Bucket="billing")
    requests = {  # about 6 s of training each, so that every ratio gives its own figure
        "endpoint": toy_request(f"{job_name}-a", steps=60, checkpoint_uri=None,
                                bucket="billing"),
        "tag": toy_request(f"{job_name}-b", steps=60, checkpoint_uri=None, bucket="billing",
                           tags=[{"Key": "smemu:spot-price-ratio", "Value": "0.75"}]),
        "on-demand": toy_request(f"{job_name}-c", steps=60, checkpoint_uri=None,
                                 bucket="billing", spot=False),
    }
    for request in requests.values():
        sagemaker.create_training_job(**request)
    jobs = {kind: wait_for_job(sagemaker, request["TrainingJobName"])
            for kind, request in requests.items()}
    for kind, job in jobs.items():
        assert job["TrainingJobStatus"] == "Completed", (kind, job.get("FailureReason"))
        assert job["TrainingTimeInSeconds"] >= 5, kind  # 0.3, 0.5, 0.75 and 1 all differ
    training = {kind: job["TrainingTimeInSeconds"] for kind, job in jobs.items()}
    billable = {kind: job["BillableTimeInSeconds"] for kind, job in jobs.items()}
    assert billable == {"endpoint": math.ceil(training["endpoint"] * 0.5),
                        "tag": math.ceil(training["tag"] * 0.75),
                        "on-demand": training["on-demand"]}
