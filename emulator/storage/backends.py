"""Which S3 the endpoint embeds on its one port, and which requests go to it.

``disk`` (emulator.storage.disk_s3, the default): objects on disk under the state directory,
kept across restarts and crashes, streamed both ways. ``moto``: moto's S3, in memory, lost
when the endpoint stops. CloudWatch Logs, STS and IAM are moto's whichever is chosen.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

S3_BACKENDS = ("disk", "moto")
DEFAULT_S3_BACKEND = "disk"  # bench/results.md, "S3 backends": why
BACKEND_ENV = "SMEMU_S3_BACKEND"  # the default for `smemu serve --s3-backend`


def chosen_backend(requested: str | None = None) -> str:
    """``requested``, else $SMEMU_S3_BACKEND, else the default; an unknown name raises."""
    name = requested or os.environ.get(BACKEND_ENV) or DEFAULT_S3_BACKEND
    if name not in S3_BACKENDS:
        raise ValueError(f"unknown S3 backend {name!r} (one of {', '.join(S3_BACKENDS)})")
    return name


def s3_root(state_dir: Path, port: int = 0) -> Path:
    """Where the disk S3 of the endpoint on ``port`` keeps its objects (index.sqlite3, blobs/,
    ...): <state dir>/s3-<port>, beside that port's job history (jobs-<port>.sqlite3), whose
    lock makes it this endpoint's alone; <state dir>/s3 for one on a free port (port 0), as
    its history is jobs.sqlite3."""
    return state_dir / (f"s3-{port}" if port else "s3")


def _signed_service(environ: dict[str, Any]) -> str | None:
    """The service a SigV4 request (header or presigned query) is signed for, else None."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if authorization.startswith("AWS "):  # SigV2: only S3 still takes it
        return "s3"
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    else:
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
        credential = (query.get("X-Amz-Credential") or [""])[0]
    scope = credential.strip().split("/")
    return scope[3] if len(scope) >= 5 else None


def is_s3_request(environ: dict[str, Any]) -> bool:
    """An S3 request: signed for s3, or unsigned and in none of the other protocols' shapes
    (JSON with an X-Amz-Target, or a form/query with an Action)."""
    service = _signed_service(environ)
    if service is not None:
        return service == "s3"
    if environ.get("HTTP_X_AMZ_TARGET"):
        return False
    if "Action=" in environ.get("QUERY_STRING", ""):
        return False
    return not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
