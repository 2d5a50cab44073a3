"""The endpoint's pool of job networks on real Docker: a job after another takes the network
the first gave back (no network made, no gateway connect), a network a container was left on
is never lent again (the next job cannot reach that container), and a stopped endpoint leaves
no pool network behind. Docker's own event log and network list are the witnesses."""

from __future__ import annotations

import contextlib
import json
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime import labels as L
from tests.support.endpoint import EndpointProcess, read_model_tar, toy_request, wait_for_job
from tests.support.images import SESSION_ID, SESSION_LABEL, build_script_image, session_image

pytestmark = pytest.mark.docker

PROBE_IMAGE = session_image("smemu-test-reach")
PORT = 8000
# Tries a TCP connection to each of $PROBE_TARGETS (for up to $PROBE_WAIT s each) and writes
# what it reached into /opt/ml/model/reached.json.
PROBE = textwrap.dedent(f"""
    import json, os, socket, time
    reached = {{}}
    for target in filter(None, os.environ.get("PROBE_TARGETS", "").split(",")):
        deadline = time.time() + float(os.environ.get("PROBE_WAIT", "0"))
        while True:
            try:
                socket.create_connection((target, {PORT}), timeout=1).close()
                reached[target] = True
                break
            except OSError:
                if time.time() >= deadline:
                    reached[target] = False
                    break
                time.sleep(0.2)
    open("/opt/ml/model/reached.json", "w").write(json.dumps(reached))
""")


@pytest.fixture(scope="module")
def probe_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, PROBE_IMAGE, PROBE)
    docker_client.images.remove(PROBE_IMAGE, force=True)


def probe_request(name: str, bucket: str, **environment: str) -> dict[str, Any]:
    request = toy_request(name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = PROBE_IMAGE
    request["Environment"] = environment
    return request


def run_probe(ep: EndpointProcess, name: str, bucket: str, **environment: str
              ) -> dict[str, bool]:
    sagemaker, s3 = ep.client("sagemaker"), ep.client("s3")
    sagemaker.create_training_job(**probe_request(name, bucket, **environment))
    job = wait_for_job(sagemaker, name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return dict(json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
        "reached.json"]))


class EventLog:
    """Docker's container and network events, followed live from its start: Docker's own
    history keeps only its last 256 events, which the rest of a parallel test run can push
    a minute-old job's connects out of."""

    def __init__(self, docker_client: Any) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # Returns once the daemon has subscribed us: nothing after this is missed.
        self._stream = docker_client.events(decode=True,
                                            filters={"type": ["container", "network"]})
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        with contextlib.suppress(Exception):  # closed
            for event in self._stream:
                with self._lock:
                    self.seen.append(event)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.seen)

    def close(self) -> None:
        self._stream.close()


@pytest.fixture
def event_log(docker_client: Any) -> Iterator[EventLog]:
    log = EventLog(docker_client)
    yield log
    log.close()


def events(log: EventLog, since: float, kind: str) -> list[dict[str, Any]]:
    """What happened to `kind` (network, container) since `since`, as Docker reported it.
    Docker's events come over one stream in order: those of a call that has returned are
    in by the time a later call's are, so a short wait for the stream to catch up is
    enough."""
    time.sleep(1)
    return [e for e in log.snapshot() if e.get("Type") == kind and e["timeNano"] / 1e9 >= since]


def networks_of_jobs(log: EventLog, since: float, server: str) -> dict[str, set[str]]:
    """Each job's network IDs, from the connects of its training containers since `since`."""
    jobs = {e["Actor"]["ID"]: e["Actor"]["Attributes"][L.JOB]
            for e in events(log, since, "container")
            if e["Action"] == "create" and e["Actor"]["Attributes"].get(L.SERVER) == server
            and L.JOB in e["Actor"]["Attributes"]}
    out: dict[str, set[str]] = {}
    for event in events(log, since, "network"):
        container = event["Actor"]["Attributes"].get("container")
        if event["Action"] == "connect" and container in jobs:
            out.setdefault(jobs[container], set()).add(event["Actor"]["ID"])
    return out


def pool_networks(docker_client: Any, server: str) -> list[Any]:
    return list(docker_client.networks.list(filters={"label": [f"{L.SERVER}={server}",
                                                               f"{L.POOL}=true"]}))


def assert_nothing_left(docker_client: Any, server: str) -> None:
    label = {"label": f"{L.SERVER}={server}"}
    assert docker_client.networks.list(filters=label) == []
    assert docker_client.containers.list(all=True, filters=label, ignore_removed=True) == []


def test_a_job_after_another_takes_its_network_and_nothing_is_made_for_it(
        probe_image: str, docker_client: Any, event_log: EventLog, tmp_path: Path) -> None:
    with EndpointProcess(tmp_path / "state") as ep:
        ep.client("s3").create_bucket(Bucket="pool")
        started = time.time()
        run_probe(ep, "first", "pool")
        between = time.time()
        run_probe(ep, "second", "pool")
        networks = networks_of_jobs(event_log, started, ep.server_id)
        assert networks["first"] == networks["second"] and len(networks["first"]) == 1
        [reused] = networks["first"]
        # In the second job's time, Docker made, removed, or connected the gateway to no
        # network of this endpoint: only the job's own container came and went.
        gateway = docker_client.containers.get(f"smemu-{ep.server_id}-gateway")
        ours = [e for e in events(event_log, between, "network")
                if e["Actor"]["Attributes"].get("name", "").startswith(f"smemu-{ep.server_id}")]
        assert [e for e in ours if e["Action"] in ("create", "destroy")] == []
        assert [e for e in ours if e["Actor"]["Attributes"].get("container") == gateway.id] == []
        # Back in the pool: the endpoint's, no job's, with the gateway alone on it.
        pooled = {n.id: n for n in pool_networks(docker_client, ep.server_id)}
        assert reused in pooled
        network = pooled[reused]
        network.reload()
        assert L.JOB not in network.attrs["Labels"]
        assert set(network.attrs["Containers"]) == {gateway.id}
    assert_nothing_left(docker_client, ep.server_id)


def test_a_network_a_container_was_left_on_is_not_lent_to_the_next_job(
        probe_image: str, docker_client: Any, event_log: EventLog, tmp_path: Path) -> None:
    with EndpointProcess(tmp_path / "state") as ep:
        ep.client("s3").create_bucket(Bucket="left")
        sagemaker = ep.client("sagemaker")
        started = time.time()
        # The first job's container waits for "leftover" on its network: a container whose
        # removal failed, as far as smemu can tell, that the test puts there meanwhile.
        sagemaker.create_training_job(**probe_request("first", "left", PROBE_TARGETS="leftover",
                                                      PROBE_WAIT="120"))
        leftover = None
        try:
            network = network_of_running(docker_client, ep.server_id, "first")
            leftover = docker_client.containers.run(
                "smemu-base:latest", ["python3", "-m", "http.server", str(PORT)], detach=True,
                name=f"smemu-test-leftover-{uuid.uuid4().hex[:8]}", network=network,
                networking_config={network: {"Aliases": ["leftover"]}},
                labels={SESSION_LABEL: SESSION_ID})
            job = wait_for_job(sagemaker, "first", timeout=180)
            assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
            first = json.loads(read_model_tar(ep.client("s3"), job["ModelArtifacts"][
                "S3ModelArtifacts"])["reached.json"])
            assert first == {"leftover": True}  # on one network, they do reach each other
            leftover.reload()
            address = leftover.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            second = run_probe(ep, "second", "left", PROBE_TARGETS=f"leftover,{address}",
                               PROBE_WAIT="3")
            assert second == {"leftover": False, address: False}
            networks = networks_of_jobs(event_log, started, ep.server_id)
            assert networks["first"].isdisjoint(networks["second"])
        finally:
            if leftover is not None:
                leftover.remove(force=True)
    assert_nothing_left(docker_client, ep.server_id)


def network_of_running(docker_client: Any, server: str, job: str, timeout: float = 120
                       ) -> str:
    """The network of the job's training container, once it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for container in docker_client.containers.list(filters={
                "label": [f"{L.SERVER}={server}", f"{L.JOB}={job}"]}, ignore_removed=True):
            [network] = container.attrs["NetworkSettings"]["Networks"]
            return str(network)
        time.sleep(0.1)
    raise TimeoutError(f"job {job}'s container never ran")
