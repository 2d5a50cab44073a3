"""The disk S3's objects: bodies in files, their versions in one SQLite index (WAL).

A body is written to a temporary file while it arrives (hashed as it goes), renamed into
``blobs/`` and only then recorded in the index, so a crash leaves at worst an unreferenced
file, never a listed object without its body. A multipart object is the directory of its parts
(renamed whole at completion, nothing copied); a body is read back as the list of its segments.
Blobs are never rewritten: a copy is a hard link.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException

from emulator.storage.disk_s3.errors import S3Error
from emulator.storage.disk_s3.wire import Readable

SCHEMA_VERSION = 1
NULL_VERSION = "null"
MIN_PART_SIZE = 5 * 1024 * 1024
COPY_CHUNK = 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, created REAL NOT NULL, versioning TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL, key TEXT NOT NULL,
    version_id TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, modified REAL NOT NULL,
    headers TEXT NOT NULL, delete_marker INTEGER NOT NULL, blob TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS versions_by_key ON versions (bucket, key, seq);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, created REAL NOT NULL,
    headers TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL,
    etag TEXT NOT NULL, PRIMARY KEY (upload_id, number));
"""


@dataclass(frozen=True)
class Version:
    bucket: str
    key: str
    version_id: str
    size: int
    etag: str  # quoted, as S3 sends it
    modified: float
    headers: dict[str, str] = field(default_factory=dict)
    delete_marker: bool = False
    blob: str = ""
    is_latest: bool = True


def _version(row: sqlite3.Row, is_latest: bool = True) -> Version:
    return Version(row["bucket"], row["key"], row["version_id"], row["size"], row["etag"],
                   row["modified"], json.loads(row["headers"]), bool(row["delete_marker"]),
                   row["blob"], is_latest)


class DiskObjectStore:
    """Buckets, object versions and multipart uploads under ``root``; thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs, self.tmp, self.uploads = root / "blobs", root / "tmp", root / "uploads"
        for folder in (self.blobs, self.tmp, self.uploads):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(root / "index.sqlite3", check_same_thread=False,
                                   isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        found = self._db.execute("SELECT version FROM schema_version").fetchone()
        if found is None:
            self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
        elif found["version"] > SCHEMA_VERSION:
            raise RuntimeError(f"{root} holds a newer disk S3 (schema {found['version']}); "
                               "upgrade smemu or wipe it")
        for stale in self.tmp.iterdir():  # bodies a crashed process was still receiving
            _remove(stale)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- buckets ------------------------------------------------------------------------
    def create_bucket(self, name: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)",
                       (name, time.time()))

    def buckets(self) -> list[tuple[str, float]]:
        with self._lock:
            rows = self._db.execute("SELECT name, created FROM buckets ORDER BY name").fetchall()
        return [(r["name"], r["created"]) for r in rows]

    def has_bucket(self, bucket: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM buckets WHERE name = ?",
                                    (bucket,)).fetchone() is not None

    def versioning(self, bucket: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT versioning FROM buckets WHERE name = ?",
                                   (bucket,)).fetchone()
        if row is None:
            raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404,
                          BucketName=bucket)
        return str(row["versioning"])

    def set_versioning(self, bucket: str, status: str) -> None:
        self.versioning(bucket)
        with self._tx() as db:
            db.execute("UPDATE buckets SET versioning = ? WHERE name = ?", (status, bucket))

    def delete_bucket(self, bucket: str) -> None:
        self.versioning(bucket)
        with self._tx() as db:
            if db.execute("SELECT 1 FROM versions WHERE bucket = ? LIMIT 1",
                          (bucket,)).fetchone():
                raise S3Error("BucketNotEmpty", "The bucket you tried to delete is not empty",
                              409, BucketName=bucket)
            db.execute("DELETE FROM buckets WHERE name = ?", (bucket,))

    # -- bodies -------------------------------------------------------------------------
    def receive(self, body: Readable, length: int | None, into: Path | None = None
                ) -> tuple[Path, int, str]:
        """Write ``body`` (``length`` bytes, or to its end) to a new file; (path, size, md5)."""
        path = into or self.tmp / uuid.uuid4().hex
        digest, size = hashlib.md5(usedforsecurity=False), 0
        try:
            with path.open("wb") as out:
                while length is None or size < length:
                    want = COPY_CHUNK if length is None else min(COPY_CHUNK, length - size)
                    chunk = body.read(want)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except (OSError, HTTPException) as err:  # a stalled body or a client gone mid-body
            path.unlink(missing_ok=True)
            timed_out = isinstance(err, TimeoutError) or isinstance(err.__context__, TimeoutError)
            raise S3Error("RequestTimeout" if timed_out else
                          "IncompleteBody", "The request body did not arrive whole: "
                          f"{type(err).__name__}", 400) from err
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if length is not None and size < length:
            path.unlink(missing_ok=True)
            raise S3Error("IncompleteBody", "You did not provide the number of bytes specified "
                          "by the Content-Length HTTP header", 400)
        return path, size, digest.hexdigest()

    def segments(self, version: Version) -> list[tuple[Path, int]]:
        """The files that make up a body, in order, with their sizes."""
        path = self.blobs / version.blob
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        return [(f, f.stat().st_size) for f in files]

    # -- versions -----------------------------------------------------------------------
    def put(self, bucket: str, key: str, received: Path, size: int, etag: str,
            headers: dict[str, str]) -> Version:
        """Record a received body (a file or a parts directory) as the key's newest version."""
        status = self.versioning(bucket)
        blob = uuid.uuid4().hex
        target = self.blobs / blob[:2] / blob
        target.parent.mkdir(exist_ok=True)
        os.rename(received, target)
        version_id = uuid.uuid4().hex if status == "Enabled" else NULL_VERSION
        return self._record(bucket, key, version_id, size, etag, headers, False,
                            f"{blob[:2]}/{blob}")

    def _record(self, bucket: str, key: str, version_id: str, size: int, etag: str,
                headers: dict[str, str], delete_marker: bool, blob: str) -> Version:
        replaced: list[str] = []
        modified = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is None:
                raise S3Error("NoSuchBucket", "The specified bucket does not exist", 404,
                              BucketName=bucket)
            if version_id == NULL_VERSION:  # a null version is replaced, not kept
                replaced = [r["blob"] for r in db.execute(
                    "SELECT blob FROM versions WHERE bucket = ? AND key = ? AND version_id = ?",
                    (bucket, key, NULL_VERSION))]
                db.execute("DELETE FROM versions WHERE bucket = ? AND key = ? AND "
                           "version_id = ?", (bucket, key, NULL_VERSION))
            db.execute("INSERT INTO versions (bucket, key, version_id, size, etag, modified, "
                       "headers, delete_marker, blob) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (bucket, key, version_id, size, etag, modified, json.dumps(headers),
                        int(delete_marker), blob))
        self._drop_blobs(replaced)
        return Version(bucket, key, version_id, size, etag, modified, headers, delete_marker,
                       blob)

    def _drop_blobs(self, blobs: list[str]) -> None:
        for blob in blobs:
            if blob:
                _remove(self.blobs / blob)

    def get(self, bucket: str, key: str, version_id: str | None = None) -> Version:
        """The latest version (maybe a delete marker), or the one asked for."""
        self.versioning(bucket)
        with self._lock:
            if version_id is None:
                row = self._db.execute("SELECT * FROM versions WHERE bucket = ? AND key = ? "
                                       "ORDER BY seq DESC LIMIT 1", (bucket, key)).fetchone()
            else:
                row = self._db.execute("SELECT * FROM versions WHERE bucket = ? AND key = ? "
                                       "AND version_id = ?", (bucket, key, version_id)
                                       ).fetchone()
        if row is None:
            if version_id is not None:
                raise S3Error("NoSuchVersion", "The specified version does not exist.", 404,
                              Key=key, VersionId=version_id)
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)
        return _version(row)

    def delete(self, bucket: str, key: str, version_id: str | None = None) -> Version | None:
        """DeleteObject: a delete marker when versioned; the version removed or marker added."""
        status = self.versioning(bucket)
        if version_id is None and status == "Enabled":
            return self._record(bucket, key, uuid.uuid4().hex, 0, "", {}, True, "")
        if version_id is None and status == "Suspended":
            return self._record(bucket, key, NULL_VERSION, 0, "", {}, True, "")
        wanted = NULL_VERSION if version_id is None else version_id
        with self._tx() as db:
            row = db.execute("SELECT * FROM versions WHERE bucket = ? AND key = ? AND "
                             "version_id = ?", (bucket, key, wanted)).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM versions WHERE seq = ?", (row["seq"],))
        self._drop_blobs([row["blob"]])
        return _version(row)

    def copy(self, source: Version, bucket: str, key: str, headers: dict[str, str]) -> Version:
        """A new version of ``key`` sharing ``source``'s body through hard links."""
        staged = self.tmp / uuid.uuid4().hex
        segments = self.segments(source)
        if (self.blobs / source.blob).is_dir():
            staged.mkdir()
            for path, _ in segments:
                os.link(path, staged / path.name)
        else:
            os.link(segments[0][0], staged)
        try:
            return self.put(bucket, key, staged, source.size, source.etag, headers)
        except BaseException:
            _remove(staged)
            raise

    def iter_latest(self, bucket: str, start: str) -> Iterator[Version]:
        """Live objects (latest version not a delete marker) with key >= start, in key order."""
        self.versioning(bucket)
        rows = self._rows("SELECT v.* FROM versions v WHERE v.bucket = ? AND v.key >= ? AND "
                          "v.seq = (SELECT MAX(seq) FROM versions w WHERE w.bucket = v.bucket "
                          "AND w.key = v.key) ORDER BY v.key", (bucket, start))
        for row in rows:
            if not row["delete_marker"]:
                yield _version(row)

    def iter_versions(self, bucket: str, start: str) -> Iterator[Version]:
        """Every version with key >= start, by key, newest first within a key."""
        self.versioning(bucket)
        previous = None
        for row in self._rows("SELECT * FROM versions WHERE bucket = ? AND key >= ? "
                              "ORDER BY key, seq DESC", (bucket, start)):
            yield _version(row, is_latest=row["key"] != previous)
            previous = row["key"]

    def _rows(self, sql: str, args: tuple[Any, ...], page: int = 500) -> Iterator[sqlite3.Row]:
        """Rows fetched a page at a time under the lock (no cursor held across yields)."""
        offset = 0
        while True:
            with self._lock:
                rows = self._db.execute(f"{sql} LIMIT ? OFFSET ?", (*args, page, offset)
                                        ).fetchall()
            yield from rows
            if len(rows) < page:
                return
            offset += page

    # -- multipart ----------------------------------------------------------------------
    def create_upload(self, bucket: str, key: str, headers: dict[str, str]) -> str:
        self.versioning(bucket)
        upload_id = uuid.uuid4().hex
        (self.uploads / upload_id).mkdir()
        with self._tx() as db:
            db.execute("INSERT INTO uploads VALUES (?, ?, ?, ?, ?)",
                       (upload_id, bucket, key, time.time(), json.dumps(headers)))
        return upload_id

    def _upload(self, bucket: str, key: str, upload_id: str) -> sqlite3.Row:
        with self._lock:
            row = self._db.execute("SELECT * FROM uploads WHERE upload_id = ? AND bucket = ? "
                                   "AND key = ?", (upload_id, bucket, key)).fetchone()
        if row is None:
            raise S3Error("NoSuchUpload", "The specified upload does not exist. The upload ID "
                          "may be invalid, or the upload may have been aborted or completed.",
                          404, UploadId=upload_id)
        return row

    def upload_part(self, bucket: str, key: str, upload_id: str, number: int,
                    body: Readable, length: int | None) -> str:
        self._upload(bucket, key, upload_id)
        if not 1 <= number <= 10000:
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and "
                          "10000, inclusive", 400, ArgumentName="partNumber")
        received, size, md5 = self.receive(body, length)
        os.replace(received, self.uploads / upload_id / f"{number:05d}")
        etag = f'"{md5}"'
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)",
                       (upload_id, number, size, etag))
        return etag

    def complete_upload(self, bucket: str, key: str, upload_id: str,
                        wanted: list[tuple[int, str]]) -> Version:
        upload = self._upload(bucket, key, upload_id)
        with self._lock:
            have = {r["number"]: r for r in self._db.execute(
                "SELECT * FROM parts WHERE upload_id = ?", (upload_id,))}
        numbers = [n for n, _ in wanted]
        if not wanted or numbers != sorted(set(numbers)):
            raise S3Error("InvalidPartOrder", "The list of parts was not in ascending order. "
                          "Parts must be ordered by part number.", 400, UploadId=upload_id)
        digests, size = b"", 0
        for index, (number, etag) in enumerate(wanted):
            part = have.get(number)
            if part is None or part["etag"].strip('"') != etag.strip('"'):
                raise S3Error("InvalidPart", "One or more of the specified parts could not be "
                              "found. The part may not have been uploaded, or the specified "
                              "entity tag may not have matched the part's entity tag.", 400,
                              PartNumber=str(number))
            if index < len(wanted) - 1 and part["size"] < MIN_PART_SIZE:
                raise S3Error("EntityTooSmall", "Your proposed upload is smaller than the "
                              "minimum allowed object size.", 400, PartNumber=str(number))
            digests += bytes.fromhex(part["etag"].strip('"'))
            size += part["size"]
        folder = self.uploads / upload_id
        for number in set(have) - set(numbers):  # parts uploaded but not chosen
            (folder / f"{number:05d}").unlink(missing_ok=True)
        etag = f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{len(wanted)}"'
        version = self.put(bucket, key, folder, size, etag, json.loads(upload["headers"]))
        self._forget_upload(upload_id)
        return version

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        self._upload(bucket, key, upload_id)
        _remove(self.uploads / upload_id)
        self._forget_upload(upload_id)

    def _forget_upload(self, upload_id: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))

    def list_uploads(self, bucket: str, prefix: str) -> list[tuple[str, str, float]]:
        self.versioning(bucket)
        with self._lock:
            rows = self._db.execute("SELECT key, upload_id, created FROM uploads WHERE "
                                    "bucket = ? ORDER BY key, created", (bucket,)).fetchall()
        return [(r["key"], r["upload_id"], r["created"]) for r in rows
                if r["key"].startswith(prefix)]


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
