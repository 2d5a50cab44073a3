"""The one retry layer of the checkpoint engine: attempts around one S3 operation.

Blob stores and their clients do not retry (see ``emulator.storage.blobstore``): an operation is
tried ``ATTEMPTS`` times with exponential backoff, whatever the transport, and then on (the
backoff capped) for as long as a ``Patience`` allows: where nothing would try again later (a
restore, the model upload), S3 gets that long to answer again before the error stands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

ATTEMPTS = 5  # waits 0.25 + 0.5 + 1 + 2 s between them: rides out a few seconds of outage

# Errors that another attempt cannot fix.
_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "InvalidBucketName",
        "NoSuchBucket",
        "SignatureDoesNotMatch",
    }
)
_LOCAL_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def is_permanent(exc: BaseException) -> bool:
    """True for S3 errors that retrying cannot fix (and for local file errors)."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in _PERMANENT_CODES
    if isinstance(exc, _LOCAL_ERRORS):
        return True
    # boto3's S3UploadFailedError carries the ClientError only in its message.
    text = str(exc)
    return any(f"({code})" in text for code in _PERMANENT_CODES)


@dataclass(frozen=True)
class Patience:
    """How long to go on retrying after the first failure (``seconds``), and who hears of
    each retry (``on_retry(seconds waited before it)``, for the report)."""

    seconds: float = 0.0
    on_retry: Callable[[float], None] | None = None


NO_PATIENCE = Patience()


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    base_delay: float = 0.25,
    max_delay: float = 4.0,
    cancel: threading.Event | None = None,
    patience: Patience = NO_PATIENCE,
) -> T:
    """Call ``fn`` until it returns: up to ``attempts`` times with exponential backoff, then on
    while ``patience.seconds`` since the first failure have not passed; re-raise the last
    error (at once for a permanent one).

    ``cancel`` (when set) stops waiting between attempts and re-raises at once.
    """
    delay = base_delay
    attempt = 0
    first_failure: float | None = None
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            now = time.monotonic()
            first_failure = now if first_failure is None else first_failure
            patient = now - first_failure + delay < patience.seconds
            if is_permanent(exc) or (attempt >= attempts and not patient):
                raise
            if cancel is not None:
                if cancel.wait(delay):
                    raise
            else:
                time.sleep(delay)
            if patience.on_retry is not None:
                patience.on_retry(delay)
            delay = min(delay * 2, max_delay)
