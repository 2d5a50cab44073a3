"""`smemu run` follows a job on the endpoint's change long-poll: without logs to show each poll
waits for the job's next change (at most `poll` seconds), with logs at the polling cadence; an
endpoint without the route gets one try, then plain sleeps."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from emulator.cli import follow as follow_module
from emulator.cli.follow import FAST_POLL, ChangeWaiter, FollowState, follow


class _Job:
    """DescribeTrainingJob of a job that ends at its `ends_at`-th describe."""

    def __init__(self, ends_at: int) -> None:
        self.describes, self.ends_at = 0, ends_at

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.describes += 1
        status = "Completed" if self.describes >= self.ends_at else "InProgress"
        return {"TrainingJobName": TrainingJobName, "TrainingJobStatus": status,
                "SecondaryStatusTransitions": []}


class _Logs:
    """A Logs client of a job that has printed nothing yet."""

    class _Pages:
        def paginate(self, **_: Any) -> list[dict[str, Any]]:
            return [{"logStreams": []}]

    def get_paginator(self, name: str) -> _Pages:
        return self._Pages()


@pytest.mark.parametrize(("show_logs", "expected"), [
    (False, [0.5, 0.5, 0.5]),  # nothing to poll but the job: its change (or `poll`) wakes it
    (True, [FAST_POLL, FAST_POLL * 1.5, FAST_POLL * 1.5 ** 2]),  # the log lines' cadence
])
def test_each_poll_waits_for_the_jobs_change(show_logs: bool, expected: list[float],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    waits: list[float] = []
    job = _Job(ends_at=4)
    done = follow(job, _Logs(), "job", show_logs=show_logs, poll=0.5,
                  state=FollowState(_Logs(), "job"), wait_for_change=waits.append)
    assert done["TrainingJobStatus"] == "Completed"
    assert waits == pytest.approx(expected)
    assert job.describes == 4


class _Answers(BaseHTTPRequestHandler):
    status = 200
    seen: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(parse_qs(urlsplit(self.path).query))
        body = json.dumps({"Version": 7}).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture()
def stub() -> Iterator[tuple[str, type[_Answers]]]:
    handler = type("Handler", (_Answers,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_the_waiter_asks_for_changes_after_the_count_it_was_given(
        stub: tuple[str, type[_Answers]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = stub
    monkeypatch.setattr(follow_module.time, "sleep", _no_sleep)
    wait = ChangeWaiter(url, "a job")
    wait(0.5)
    wait(0.25)
    assert [(q["after"], q["timeout"]) for q in handler.seen] == [
        (["0"], ["0.500"]), (["7"], ["0.250"])]


def test_an_endpoint_without_the_long_poll_is_asked_once_then_slept_on(
        stub: tuple[str, type[_Answers]], monkeypatch: pytest.MonkeyPatch) -> None:
    url, handler = stub
    handler.status = 404  # an older smemu: no such emulator route
    slept: list[float] = []
    monkeypatch.setattr(follow_module.time, "sleep", slept.append)
    wait = ChangeWaiter(url, "job")
    for _ in range(3):
        wait(0.5)
    assert len(handler.seen) == 1
    assert slept == [0.5, 0.5, 0.5]


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"slept {seconds} s: the long-poll answered")
