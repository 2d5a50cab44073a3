"""Container output to CloudWatch Logs on the endpoint, where the SDK and `aws logs` read it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from emulator.contract import LOG_GROUP


def log_stream_name(job_name: str, host: str, started_at: float) -> str:
    """<job>/algo-<n>-<epoch>, the SDK's naming."""
    return f"{job_name}/{host}-{int(started_at)}"


class CloudWatchLogWriter:
    """Batches lines and puts them to one log stream from a background thread."""

    def __init__(self, client: Any, stream: str, group: str = LOG_GROUP,
                 interval: float = 0.3) -> None:
        self._client = client
        self.stream = stream
        self.group = group
        self._interval = interval
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"logs-{stream}", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> CloudWatchLogWriter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_group(logGroupName=self.group)
        with contextlib.suppress(self._client.exceptions.ResourceAlreadyExistsException):
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        self._thread.start()

    def write(self, line: str, at: float | None = None) -> None:
        event = {"timestamp": int((at or time.time()) * 1000), "message": line or " "}
        with self._lock:
            self._pending.append(event)

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:10000], self._pending[10000:]
        if not batch:
            return
        try:
            self._client.put_log_events(
                logGroupName=self.group, logStreamName=self.stream, logEvents=batch
            )
        except Exception as err:  # logs are a mirror of the output, never a reason to fail a job
            self.errors.append(str(err))


class LogTail:
    """Tails every CloudWatch stream of one job (one per attempt and host)."""

    def __init__(self, logs: Any, job_name: str) -> None:
        self.logs = logs
        self.job_name = job_name
        self.tokens: dict[str, str | None] = {}

    def poll(self, emit: Callable[[str, str, float], None]) -> None:
        """Calls emit(stream, message, epoch seconds) for every new event."""
        try:  # every page: a job has a stream per host and attempt, often more than 50
            streams = [stream for page in self.logs.get_paginator("describe_log_streams")
                       .paginate(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{self.job_name}/")
                       for stream in page.get("logStreams", [])]
        except self.logs.exceptions.ResourceNotFoundException:
            return
        for stream in sorted(streams, key=lambda s: s.get("creationTime", 0)):
            name = stream["logStreamName"]
            while True:
                kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": name,
                                          "startFromHead": True}
                if self.tokens.get(name):
                    kwargs["nextToken"] = self.tokens[name]
                page = self.logs.get_log_events(**kwargs)
                for event in page.get("events", []):
                    emit(name, event["message"], event["timestamp"] / 1000)
                token = page.get("nextForwardToken")
                if token == self.tokens.get(name) or not page.get("events"):
                    self.tokens[name] = token
                    break
                self.tokens[name] = token
