"""The one retry layer of the checkpoint engine: a few attempts around one S3 operation.

Blob stores and their clients do not retry (see ``emulator.storage.blobstore``): an operation is
tried at most ``ATTEMPTS`` times in all, with exponential backoff, whatever the transport.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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


def with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    base_delay: float = 0.25,
    max_delay: float = 4.0,
    cancel: threading.Event | None = None,
) -> T:
    """Call ``fn`` up to ``attempts`` times with exponential backoff; re-raise the last error.

    ``cancel`` (when set) stops waiting between attempts and re-raises at once.
    """
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or is_permanent(exc):
                raise
            if cancel is not None:
                if cancel.wait(delay):
                    raise
            else:
                time.sleep(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")
