"""The endpoint's one S3 gateway: on each running job's network, alone on it when the job ends
(the network back in the endpoint's pool, or removed), and forwarding no IP packets between the
networks it is on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from emulator.runtime import labels as L
from tests.support.endpoint import EndpointProcess, sleeper_request, wait_for_job, wait_for_status

pytestmark = pytest.mark.docker


def gateway_of(docker_client: Any, endpoint: EndpointProcess) -> Any:
    [gateway] = docker_client.containers.list(filters={
        "label": f"smemu.server={endpoint.server_id}", "name": "-gateway"}, ignore_removed=True)
    return gateway


def networks_of(container: Any) -> set[str]:
    container.reload()
    return set(container.attrs["NetworkSettings"]["Networks"])


def test_one_gateway_joins_each_job_network_and_leaves_it(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        docker_client: Any) -> None:
    names = [f"{job_name}-a", f"{job_name}-b"]
    for name in names:
        sagemaker.create_training_job(**sleeper_request(name, bucket,
                                                        **{"smemu:grace-period": "0s"}))
    for name in names:
        wait_for_status(sagemaker, name, "Training")
    gateway = gateway_of(docker_client, endpoint)
    job_networks = {name: job_network(docker_client, name) for name in names}
    assert len(set(job_networks.values())) == 2  # a network each
    assert set(job_networks.values()) <= networks_of(gateway)
    # It routes nothing from one job's network to another's.
    for sysctl in ("net.ipv4.ip_forward", "net.ipv4.conf.all.forwarding"):
        path = "/proc/sys/" + sysctl.replace(".", "/")
        assert gateway.exec_run(["cat", path]).output.strip() == b"0", sysctl
    for name in names:
        sagemaker.stop_training_job(TrainingJobName=name)
    for name in names:
        assert wait_for_job(sagemaker, name)["TrainingJobStatus"] == "Stopped"
    for name, network in job_networks.items():
        assert not docker_client.networks.list(filters={"label": f"{L.JOB}={name}"})
        for left in docker_client.networks.list(names=[network]):  # in the pool: bare
            left.reload()
            assert left.attrs["Labels"][L.POOL] == "true" and L.JOB not in left.attrs["Labels"]
            assert set(left.attrs["Containers"]) == {gateway.id}


def job_network(docker_client: Any, job: str, timeout: float = 60) -> str:
    """The network of the job's training container (Training shows as it is being started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for container in docker_client.containers.list(filters={"label": f"{L.JOB}={job}"},
                                                       ignore_removed=True):
            [network] = container.attrs["NetworkSettings"]["Networks"]
            return str(network)
        time.sleep(0.1)
    raise TimeoutError(f"no container of job {job} runs")
