"""`smemu cleanup` removes only what endpoints that are gone left behind: a live endpoint's
containers, network and work directory stay, and so do a crashed endpoint's checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator.runtime import labels as L
from tests.support.endpoint import (
    EndpointProcess,
    quick_toy_request,
    sleeper_request,
    wait_for_job,
    wait_for_status,
)

# Never beside its kin under xdist: SERIAL_GROUPS["docker-orphans"], tests/support/parallel.py.
pytestmark = pytest.mark.docker


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def owned_by(server: str, pid: int, start: str) -> dict[str, str]:
    return {L.MANAGED: "true", L.SERVER: server, L.JOB: "orphan-job", L.PID: str(pid),
            L.PID_START: start}


def names(docker_client: Any, server: str) -> list[str]:
    selector = {"label": f"{L.SERVER}={server}"}
    return sorted([c.name for c in docker_client.containers.list(all=True, filters=selector,
            ignore_removed=True)]
                  + [n.name for n in docker_client.networks.list(filters=selector)])


def test_cleanup_removes_orphans_only(tmp_path: Path, docker_client: Any) -> None:
    state = tmp_path / "state"
    tag = uuid.uuid4().hex[:8]
    dead, reused, legacy = f"dead{tag}", f"reused{tag}", f"legacy{tag}"
    start = L.process_start(os.getpid()) or "1"
    made = [
        docker_client.containers.run("smemu-base:latest", ["sleep", "300"], detach=True,
                                     network_mode="none", labels=labels)
        for labels in (owned_by(dead, dead_pid(), "1"),
                       # A live pid, but not the process that made it (its start differs).
                       owned_by(reused, os.getpid(), str(int(start) + 1)),
                       {L.MANAGED: "true", L.SERVER: legacy})]  # no owner recorded
    # Made and never started (a job's next container, made during its restore), then a crash.
    made.append(docker_client.containers.create("smemu-base:latest", ["sleep", "300"],
                                                network_mode="none",
                                                labels=owned_by(dead, dead_pid(), "1")))
    docker_client.networks.create(f"smemu-{dead}", labels=owned_by(dead, dead_pid(), "1"))
    for server, files in ((dead, []), (f"crashed{tag}", ["job/attempt-1/algo-1/checkpoints/c.pt"])):
        work = state / "work" / server
        work.mkdir(parents=True)
        (work / "owner.json").write_text(json.dumps({L.PID: str(dead_pid()), L.PID_START: "1"}))
        for rel in files:
            (work / rel).parent.mkdir(parents=True)
            (work / rel).write_text("weights")
    try:
        with EndpointProcess(state, "--grace-period", "1s") as live:
            live.client("s3").create_bucket(Bucket="cleanup")
            sagemaker = live.client("sagemaker")
            sagemaker.create_training_job(**sleeper_request("live-job", "cleanup"))
            wait_for_status(sagemaker, "live-job", "Training")
            deadline = time.monotonic() + 60  # Training is shown as its container starts
            while not any(n.endswith("-algo-1") for n in names(docker_client, live.server_id)):
                assert time.monotonic() < deadline, "the training container never appeared"
                time.sleep(0.2)
            before = names(docker_client, live.server_id)

            result = subprocess.run(
                [sys.executable, "-m", "emulator", "cleanup"], capture_output=True, text=True,
                timeout=120, env={**os.environ, "SMEMU_STATE_DIR": str(state)})
            assert result.returncode == 0, result.stderr

            assert names(docker_client, live.server_id) == before
            job = sagemaker.describe_training_job(TrainingJobName="live-job")
            assert job["TrainingJobStatus"] == "InProgress"
            assert (state / "work" / live.server_id).is_dir()
            assert names(docker_client, dead) == []
            assert names(docker_client, reused) == []
            assert len(names(docker_client, legacy)) == 1
            assert not (state / "work" / dead).exists()
            assert (state / "work" / f"crashed{tag}" / "job/attempt-1/algo-1/checkpoints/c.pt"
                    ).read_text() == "weights"
            assert "kept" in result.stdout and "checkpoint" in result.stdout
            sagemaker.stop_training_job(TrainingJobName="live-job")
    finally:
        for container in made:
            container.remove(force=True) if _exists(container) else None
        for network in docker_client.networks.list(filters={"label": f"{L.SERVER}={dead}"}):
            network.remove()


def _exists(container: Any) -> bool:
    try:
        container.reload()
    except Exception:
        return False
    return True


def test_a_killed_endpoints_pool_networks_are_orphans_and_go(tmp_path: Path,
                                                              docker_client: Any) -> None:
    """What `smemu cleanup` does, kept to this test's own dead endpoint: the pool networks it
    left, the gateway still on them, are judged orphans by their labels and removed."""
    from emulator.runtime.engine import DockerEngine
    from emulator.runtime.owners import is_orphan

    with EndpointProcess(tmp_path / "state") as ep:
        ep.client("s3").create_bucket(Bucket="pooled")
        sagemaker = ep.client("sagemaker")
        sagemaker.create_training_job(**quick_toy_request("pooled-job", "pooled"))
        assert wait_for_job(sagemaker, "pooled-job")["TrainingJobStatus"] == "Completed"
        assert docker_client.networks.list(filters={"label": [
            f"{L.SERVER}={ep.server_id}", f"{L.POOL}=true"]}), "no network went back to the pool"
        assert ep.process is not None and ep.process.process is not None
        ep.process.process.kill()  # SIGKILL: no shutdown, no cleanup
        ep.process.process.wait()
    server = ep.server_id
    left = names(docker_client, server)
    assert f"smemu-{server}-gateway" in left and any(".pool-" in name for name in left), left
    removed = DockerEngine().remove_orphans(
        lambda labels: labels.get(L.SERVER) == server and is_orphan(labels, set()))
    assert sorted(removed["containers"] + removed["networks"]) == left
    assert names(docker_client, server) == []
