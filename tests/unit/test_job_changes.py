"""The job-change long-poll: JobChanges' counts and waits, and GET /_smemu/jobs/NAME/changes on
the endpoint's application, woken by the service's own change of the job (a tag change here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from emulator import contract
from emulator.api.app import EndpointApp
from emulator.jobs import changes as changes_module
from emulator.jobs.changes import JobChanges
from tests.unit._s3server import MotoS3
from tests.unit.test_service_operations import add_job, make_service

NEVER = 3600.0  # a waiter nothing wakes would still be waiting when the test gives up


class _Watched(threading.Condition):
    """A condition that tells when a waiter has begun to wait on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waiting.set()
        return super().wait(timeout)


def _watched(changes: JobChanges, monkeypatch: pytest.MonkeyPatch) -> _Watched:
    monkeypatch.setattr(changes_module, "MAX_WAIT_S", NEVER)
    condition = _Watched()
    monkeypatch.setattr(changes, "_changed", condition)
    return condition


def _in_thread(call: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def test_a_wait_returns_at_once_for_a_change_it_has_not_seen() -> None:
    changes = JobChanges()
    changes.changed("Job")
    changes.changed("job")  # names are compared as the service compares them
    assert changes.wait("JOB", after=0, timeout=30) == 2
    assert changes.wait("job", after=2, timeout=0) == 2  # none newer: the timeout's answer


def test_a_change_wakes_a_waiter(monkeypatch: pytest.MonkeyPatch) -> None:
    changes, answers = JobChanges(), []
    condition = _watched(changes, monkeypatch)
    changes.changed("job")
    waiter = _in_thread(lambda: answers.append(changes.wait("job", after=1, timeout=NEVER)))
    assert condition.waiting.wait(60)
    changes.changed("job")
    waiter.join(60)
    assert answers == [2], "the change did not wake the waiter"


def test_a_forgotten_job_counts_from_nothing() -> None:
    changes = JobChanges()
    changes.changed("job")
    changes.forget("job")
    assert changes.wait("job", after=0, timeout=0) == 0


def test_the_route_answers_the_count_and_wakes_at_the_jobs_change(
        tmp_path: Path, s3: MotoS3, monkeypatch: pytest.MonkeyPatch) -> None:
    service = make_service(tmp_path, s3)
    job = add_job(service, "done")
    client = Client(EndpointApp(service, "unit"))
    first = json.loads(client.get("/_smemu/jobs/done/changes?after=0&timeout=0").get_data())
    assert first == {"Version": 0}  # a job read back from its history has not changed here
    condition = _watched(service.changes, monkeypatch)
    answers: list[dict[str, int]] = []
    waiter = _in_thread(lambda: answers.append(json.loads(client.get(
        f"/_smemu/jobs/DONE/changes?after=0&timeout={NEVER}").get_data())))
    assert condition.waiting.wait(60)
    service.add_tags({"ResourceArn": job.arn, "Tags": [{"Key": "k", "Value": "v"}]})
    waiter.join(60)
    assert answers == [{"Version": 1}], "the job's change did not wake the waiter"


def test_the_route_refuses_an_unknown_job_and_bad_parameters(tmp_path: Path,
                                                             s3: MotoS3) -> None:
    service = make_service(tmp_path, s3)
    add_job(service, "done")
    client = Client(EndpointApp(service, "unit"))
    missing = client.get("/_smemu/jobs/nope/changes?after=0&timeout=0")
    assert missing.status_code == 400
    assert json.loads(missing.get_data())["message"] == contract.NOT_FOUND_MESSAGE
    for query in ("after=-1", "after=x", "timeout=-1", "timeout=nan", "timeout=inf"):
        answer = client.get(f"/_smemu/jobs/done/changes?{query}")
        assert answer.status_code == 400, query
        assert json.loads(answer.get_data())["__type"] == "ValidationException"
