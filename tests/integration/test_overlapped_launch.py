"""The next attempt's container is made while its checkpoints are restored and started only
after (real Docker, real endpoint): Docker's own events say when, the job's report says when
its restore ran. A restore slowed by S3 latency (a `smemu:s3-faults` tag) leaves room for it."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.support.endpoint import (
    EndpointProcess,
    interrupt_job,
    toy_request,
    wait_for_job,
    wait_for_status,
)

pytestmark = pytest.mark.docker

# Attempt 1 writes a checkpoint and waits to be interrupted; a later attempt finds it and ends.
SCRIPT = ("if [ -e /opt/ml/checkpoints/done ]; then exit 0; fi; "
          "head -c 100000 /dev/zero > /opt/ml/checkpoints/state.bin && "
          "touch /opt/ml/checkpoints/done && exec sleep 1000")
SLOW_S3 = "latency=1500ms"  # every request of the mirror and the restore: a restore of >= 3 s


class ContainerEvents:
    """Docker's events for one job's containers, stamped by the daemon, as they come."""

    def __init__(self, docker_client: Any, job: str) -> None:
        self.seen: list[tuple[str, str, float]] = []  # (action, attempt, epoch seconds)
        self.changed = threading.Condition()
        self._stream = docker_client.events(decode=True, filters={
            "type": "container", "label": f"smemu.job={job}"})
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        try:
            for event in self._stream:
                attempt = event.get("Actor", {}).get("Attributes", {}).get("smemu.attempt", "")
                with self.changed:
                    self.seen.append((event["Action"], attempt, event["timeNano"] / 1e9))
                    self.changed.notify_all()
        except Exception:  # closed
            pass

    def when(self, action: str, attempt: int, timeout: float = 120) -> float:
        def found() -> list[float]:
            return [at for act, att, at in self.seen if act == action and att == str(attempt)]

        with self.changed:
            assert self.changed.wait_for(found, timeout), (action, attempt, self.seen)
            return found()[0]

    def actions(self, attempt: int) -> list[str]:
        with self.changed:
            return [act for act, att, _ in self.seen if att == str(attempt)]

    def close(self) -> None:
        self._stream.close()


def _request(name: str, bucket: str) -> dict[str, Any]:
    tags = {"smemu:grace-period": "0s", "smemu:s3-faults": SLOW_S3}
    request = toy_request(name, checkpoint_uri=f"s3://{bucket}/checkpoints/{name}",
                          bucket=bucket, tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", SCRIPT]}
    return request


def _interrupt_once_uploaded(endpoint: EndpointProcess, name: str) -> None:
    deadline = time.monotonic() + 120
    while len((endpoint.report(name)["Attempts"] or [{}])[0].get("CheckpointsUploaded")
              or []) < 2:
        assert time.monotonic() < deadline, "the checkpoint was never uploaded"
        time.sleep(0.2)
    assert interrupt_job(endpoint, name)[0] == 200


def test_the_next_container_is_made_during_the_restore_and_started_after_it(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        docker_client: Any) -> None:
    events = ContainerEvents(docker_client, job_name)
    try:
        sagemaker.create_training_job(**_request(job_name, bucket))
        _interrupt_once_uploaded(endpoint, job_name)
        job = wait_for_job(sagemaker, job_name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        created, started = events.when("create", 2), events.when("start", 2)
    finally:
        events.close()
    second = endpoint.report(job_name)["Attempts"][1]
    assert sorted(f["path"] for f in second["CheckpointsRestored"]) == ["done", "state.bin"]
    restore_began = second["RestoreStartedAt"]
    restore_ended = restore_began + second["RestoreSeconds"]
    assert restore_began < created < restore_ended < started, (
        restore_began, created, restore_ended, started)


def test_a_stop_during_a_slow_restore_leaves_no_container(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str,
        docker_client: Any) -> None:
    events = ContainerEvents(docker_client, job_name)
    try:
        sagemaker.create_training_job(**_request(job_name, bucket))
        _interrupt_once_uploaded(endpoint, job_name)
        events.when("create", 2)  # made, while the restore waits on S3
        wait_for_status(sagemaker, job_name, "Downloading")
        sagemaker.stop_training_job(TrainingJobName=job_name)
        job = wait_for_job(sagemaker, job_name)
        assert job["TrainingJobStatus"] == "Stopped", job.get("FailureReason")
        events.when("destroy", 2)
    finally:
        events.close()
    assert "start" not in events.actions(2)  # it never saw a partial restore
    assert endpoint.report(job_name)["Attempts"][1]["Outcome"] == "never-launched"
    assert not docker_client.containers.list(all=True, filters={
        "label": f"smemu.job={job_name}"}, ignore_removed=True)
