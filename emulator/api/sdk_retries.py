"""A client's retries, as the AWS SDKs announce them, for the container scope's report.

boto3 (and the other SDKs) send `amz-sdk-invocation-id: <uuid>` (one per API call, the same on
each of its attempts) and `amz-sdk-request: attempt=2; max=5`. A request whose attempt is above
1 is a retry; the time since the endpoint answered that call's previous attempt with an
injected error is what the client waited (its backoff). Clients that send neither are not
counted: the endpoint cannot tell their retries from new calls.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_KEEP = 4096  # calls whose last failure is remembered (the oldest are forgotten first)


def sdk_attempt(environ: dict[str, Any]) -> int:
    """The attempt number `amz-sdk-request` gives (1 when it gives none)."""
    for item in str(environ.get("HTTP_AMZ_SDK_REQUEST", "")).split(";"):
        key, _, value = item.strip().partition("=")
        if key == "attempt" and value.isascii() and value.isdigit():  # not "²"
            return int(value)
    return 1


class RetryWatch:
    """Thread-safe: remembers when each call last got an injected error."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._failed_at: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def waited_before(self, environ: dict[str, Any]) -> float | None:
        """None for a first attempt; for a retry, the seconds since its call's last injected
        error (0 when that was not seen here)."""
        if sdk_attempt(environ) <= 1:
            return None
        call = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        with self._lock:
            failed_at = self._failed_at.pop(call, None) if call else None
        return 0.0 if failed_at is None else max(0.0, self._monotonic() - failed_at)

    def failed(self, environ: dict[str, Any]) -> None:
        """The call of this request was just answered with an injected error."""
        call = environ.get("HTTP_AMZ_SDK_INVOCATION_ID")
        if not call:
            return
        with self._lock:
            self._failed_at[call] = self._monotonic()
            self._failed_at.move_to_end(call)
            while len(self._failed_at) > _KEEP:
                self._failed_at.popitem(last=False)
