"""Checkpoint objects and their versions under an S3 prefix, and which upload made each.

A job's report records every upload the mirror completed (relative path, size, SHA-256, the time
it completed). Listing the prefix gives objects (or, with versioning, every version) with their
size and LastModified. ``attribute`` aligns the two, path by path and in time order: a version is
made by the earliest not-yet-used upload of the same path and size that completed shortly after
it was stored. When two such uploads differ in content the version is hashed (small objects only)
to tell them apart. Objects no upload explains (written by another job, by hand, or an upload of a
file that changed while it was sent) keep ``upload`` None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from emulator.s3uri import S3Location

MiB = 1024 * 1024
CLOCK_SKEW_S = 2.0  # LastModified is truncated to the second by some servers
SINGLE_PART_WINDOW_S = 10.0  # a PUT is stored a moment before the mirror records it
MULTIPART_RATE = 20 * MiB  # real S3 dates a multipart object at its initiation: allow for that
HASH_LIMIT = 16 * MiB  # hash versions up to this size to settle ambiguous matches
# How S3 servers without ListObjectVersions (rclone serve s3, some gateways) refuse it.
UNSUPPORTED_CODES = frozenset({"NotImplemented", "501", "MethodNotAllowed", "405"})


@dataclass(frozen=True)
class UploadRecord:
    """One completed upload from a job's report; ``job``/``attempt`` say who made it."""

    path: str
    size: int
    sha256: str | None
    at: float | None
    job: str
    attempt: int


@dataclass(frozen=True)
class ObjectVersion:
    """One object version (or delete marker) under the prefix."""

    path: str
    key: str
    size: int
    last_modified: float
    version_id: str | None
    is_latest: bool
    etag: str = ""
    delete_marker: bool = False
    upload: UploadRecord | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "Path": self.path,
            "Key": self.key,
            "Size": None if self.delete_marker else self.size,
            "LastModified": self.last_modified,
            "VersionId": self.version_id,
            "IsLatest": self.is_latest,
            "DeleteMarker": self.delete_marker,
            "ETag": self.etag or None,
            "Job": self.upload.job if self.upload else None,
            "Attempt": self.upload.attempt if self.upload else None,
            "Sha256": self.upload.sha256 if self.upload else None,
            "UploadedAt": self.upload.at if self.upload else None,
        }


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value or 0)


def list_versions(client: Any, loc: S3Location) -> tuple[list[ObjectVersion], bool]:
    """Every version and delete marker under the prefix, per path oldest first.

    Returns (versions, True). A server without ListObjectVersions (some S3 implementations)
    falls back to the current objects, returned with False; so does one that answers it as a
    plain listing (no versions at all while current objects exist).
    """
    found: list[tuple[ObjectVersion, int]] = []  # with the server's order, newest first per key
    try:
        pages = client.get_paginator("list_object_versions").paginate(
            Bucket=loc.bucket, Prefix=loc.prefix
        )
        order = 0
        for page in pages:
            for item in page.get("Versions", []):
                order += 1
                found.append((_version(loc, item, delete_marker=False), order))
            for item in page.get("DeleteMarkers", []):
                order += 1
                found.append((_version(loc, item, delete_marker=True), order))
    except ClientError as err:
        if str(err.response.get("Error", {}).get("Code")) not in UNSUPPORTED_CODES:
            raise
        return list_current(client, loc), False
    # Sort by time; within one second (truncated dates) the server's newest-first order decides.
    found = [(v, o) for v, o in found if v.key != loc.prefix and not v.key.endswith("/")]
    if not found:
        current = list_current(client, loc)
        if current:
            return current, False
    found.sort(key=lambda vo: (vo[0].path, vo[0].last_modified, -vo[1]))
    return [v for v, _ in found], True


def bucket_versioning(client: Any, bucket: str) -> str | None:
    """The bucket's versioning status ("Enabled", "Suspended"), None when never enabled or the
    server does not say."""
    try:
        status = client.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError:
        return None
    return None if status is None else str(status)


def list_current(client: Any, loc: S3Location) -> list[ObjectVersion]:
    """The current objects under the prefix (no version information)."""
    out: list[ObjectVersion] = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.prefix)
    for page in pages:
        for item in page.get("Contents", []):
            if item["Key"] == loc.prefix or item["Key"].endswith("/"):
                continue
            out.append(replace(_version(loc, item, delete_marker=False), is_latest=True))
    out.sort(key=lambda v: v.path)
    return out


def _version(loc: S3Location, item: dict[str, Any], *, delete_marker: bool) -> ObjectVersion:
    key = str(item["Key"])
    version_id = item.get("VersionId")
    return ObjectVersion(
        path=loc.relative(key),
        key=key,
        size=int(item.get("Size", 0)),
        last_modified=_epoch(item.get("LastModified")),
        version_id=None if version_id is None else str(version_id),
        is_latest=bool(item.get("IsLatest", True)),
        etag=str(item.get("ETag", "")).strip('"'),
        delete_marker=delete_marker,
    )


def uploads_from_report(job: str, report: dict[str, Any]) -> list[UploadRecord]:
    """The uploads of a job's emulator report (``GET /_smemu/jobs/NAME``)."""
    records: list[UploadRecord] = []
    for attempt in report.get("Attempts") or []:
        number = int(attempt.get("Attempt") or 0)
        for item in attempt.get("CheckpointsUploaded") or []:
            records.append(
                UploadRecord(
                    path=str(item["path"]),
                    size=int(item.get("size") or 0),
                    sha256=item.get("sha256"),
                    at=None if item.get("at") is None else float(item["at"]),
                    job=job,
                    attempt=number,
                )
            )
    return records


Hasher = Callable[[ObjectVersion], "str | None"]


def object_hasher(client: Any, bucket: str, limit: int = HASH_LIMIT) -> Hasher:
    """SHA-256 of a version's content, for versions up to ``limit`` bytes (else None)."""

    def sha(version: ObjectVersion) -> str | None:
        if version.size > limit or version.delete_marker:
            return None
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": version.key}
        if version.version_id and version.version_id != "null":
            kwargs["VersionId"] = version.version_id
        try:
            body = client.get_object(**kwargs)["Body"]
        except ClientError:
            return None
        digest = hashlib.sha256()
        try:
            while chunk := body.read(MiB):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()

    return sha


def _window(size: int, multipart_threshold: int) -> float:
    if size <= multipart_threshold:
        return SINGLE_PART_WINDOW_S
    return SINGLE_PART_WINDOW_S + 3 * size / MULTIPART_RATE


def _fits(version: ObjectVersion, upload: UploadRecord, multipart_threshold: int) -> bool:
    if upload.size != version.size:
        return False
    if upload.at is None:
        return True
    late = upload.at - version.last_modified
    return -CLOCK_SKEW_S <= late <= _window(version.size, multipart_threshold) + CLOCK_SKEW_S


def attribute(
    versions: Iterable[ObjectVersion],
    uploads: Iterable[UploadRecord],
    *,
    hasher: Hasher | None = None,
    multipart_threshold: int = 8 * MiB,
) -> list[ObjectVersion]:
    """Return ``versions`` (same order) with ``upload`` set where an upload explains them."""
    by_path: dict[str, list[UploadRecord]] = {}
    for up in sorted(uploads, key=lambda u: (u.at or 0.0)):
        by_path.setdefault(up.path, []).append(up)
    versions = list(versions)
    result: list[ObjectVersion] = list(versions)
    cursor: dict[str, int] = {}
    order = sorted(range(len(versions)), key=lambda i: (versions[i].path,
                                                        versions[i].last_modified, i))
    for i in order:
        v = versions[i]
        if v.delete_marker:
            continue
        ups = by_path.get(v.path, [])
        start = cursor.get(v.path, 0)
        candidates = [
            j for j in range(start, len(ups)) if _fits(v, ups[j], multipart_threshold)
        ]
        if not candidates:
            continue
        chosen = candidates[0]
        shas = {ups[j].sha256 for j in candidates}
        if len(shas) > 1 and hasher is not None:
            actual = hasher(v)
            if actual is not None:
                same = [j for j in candidates if ups[j].sha256 == actual]
                if not same:
                    continue  # content no recorded upload had (e.g. changed while sent)
                chosen = same[0]
        cursor[v.path] = chosen + 1
        result[i] = replace(v, upload=ups[chosen])
    return result
