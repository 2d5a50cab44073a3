"""Training jobs' container output kept in the job history, so it outlives the process.

CloudWatch Logs is moto's, in this process's memory. `LogKeeper` (WSGI middleware) copies
every PutLogEvents moto accepted for the training jobs' log group into the job history
(SQLite); `replay_log_events` puts it back into moto when a later endpoint starts, under the
same stream names, so `smemu logs`, `aws logs` and the SDK's `logs=True` read old jobs' output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from emulator.api.logs import LOGS_TARGET, read_body, with_body
from emulator.contract import LOG_GROUP
from emulator.jobs.sqlite_store import JobHistoryDb

log = logging.getLogger(__name__)
_PUT = LOGS_TARGET + "PutLogEvents"
WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


class LogKeeper:
    def __init__(self, app: WsgiApp, db: JobHistoryDb) -> None:
        self.app = app
        self.db = db

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") != _PUT:
            return self.app(environ, start_response)
        body = read_body(environ)
        statuses: list[str] = []

        def recording_start_response(status: str, headers: Any, *exc: Any) -> Any:
            statuses.append(status)
            return start_response(status, headers, *exc)

        answer = self.app(with_body(environ, body), recording_start_response)
        data = b"".join(answer)  # moto's answer is small; start_response has run now
        if statuses and statuses[0].startswith("200"):
            self._keep(body, data)
        return [data]

    def _keep(self, body: bytes, answer: bytes) -> None:
        try:
            params = json.loads(body)
            if params.get("logGroupName") != LOG_GROUP:
                return
            events = list(params.get("logEvents") or [])
            rejected = json.loads(answer or b"{}").get("rejectedLogEventsInfo") or {}
            # Events CloudWatch rejected (too old, too new) are not in the stream: not kept.
            first = 1 + max(int(rejected.get("tooOldLogEventEndIndex", -1)),
                            int(rejected.get("expiredLogEventEndIndex", -1)))
            last = int(rejected.get("tooNewLogEventStartIndex", len(events)))
            self.db.add_log_events(LOG_GROUP, str(params["logStreamName"]),
                                   events[first:max(first, last)])
        except Exception:  # the output is a record; never the reason a put fails
            log.exception("cannot keep log events in %s", self.db.path)


def replay_log_events(db: JobHistoryDb, region: str) -> int:
    """Put the kept output back into moto's CloudWatch Logs; the number of events."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.logs.models import logs_backends

    backend = logs_backends[DEFAULT_ACCOUNT_ID][region]
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in db.log_events():
        streams.setdefault(event.stream, []).append(
            {"timestamp": event.timestamp, "message": event.message})
    if not streams:
        return 0
    if LOG_GROUP not in backend.groups:
        backend.create_log_group(LOG_GROUP, {})
    count = 0
    for stream, events in streams.items():
        if stream not in backend.groups[LOG_GROUP].streams:
            backend.create_log_stream(LOG_GROUP, stream)
            for start in range(0, len(events), 10000):
                backend.put_log_events(LOG_GROUP, stream, events[start:start + 10000])
            count += len(events)
    return count
