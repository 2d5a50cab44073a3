"""Manifests of a checkpoint tree, local or in S3, and their comparison."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, FlexibleChecksumError

from emulator.checkpoints.localfs import FileSig, open_regular, stat_regular, walk_regular_files
from emulator.checkpoints.sagemaker_names import is_ignored
from emulator.errors import CheckpointError
from emulator.s3uri import parse_s3_uri

_CHUNK = 1024 * 1024
_CHECKSUM_ATTEMPTS = 4


@dataclass(frozen=True)
class FileEntry:
    """One file of a checkpoint: relative posix path, size in bytes, hex SHA-256."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class KnownUpload:
    """What the mirror learnt uploading one file: the local version it read (``sig``, taken
    when it opened the file at ``read_at_ns``), the SHA-256 of the bytes it sent, and the ETag
    S3 answered for them. The proof takes the hash from here instead of reading the file (and
    the object) again, while the file's signature and the object's ETag are unchanged."""

    sig: FileSig
    sha256: str
    etag: str
    read_at_ns: int

    def vouches_for_file(self, sig: FileSig) -> bool:
        # A rewrite within the file system's timestamp granularity of the mirror's read could
        # keep size, mtime and inode: such a version is hashed again.
        return sig == self.sig and sig.mtime_ns < self.read_at_ns - _RACY_NS

    def vouches_for_object(self, size: int, etag: str) -> bool:
        return bool(self.etag) and etag == self.etag and size == self.sig.size


Known = Mapping[str, KnownUpload]


def known_from_restore(report: Any, root: Path) -> dict[str, KnownUpload]:
    """The files a restore (``RestoreReport``) wrote under ``root``, as it hashed them and as
    S3 listed them. Call it before anything else may write there: that is the moment the
    signatures vouch for."""
    now = time.time_ns()
    known: dict[str, KnownUpload] = {}
    for entry in report.files:
        sig = stat_regular(root, entry.path)
        etag = report.etags.get(entry.path, "")
        if sig is not None and entry.sha256 and etag:
            known[entry.path] = KnownUpload(sig, entry.sha256, etag, now)
    return known
_RACY_NS = 20_000_000  # coarse kernel timestamps tick every jiffy (1-10 ms)


@dataclass
class Manifest:
    """A local tree: ``files`` by relative path; ``skipped`` symlinks and special files (never
    followed, never mirrored); ``ignored`` files the mirror leaves alone by name."""

    files: dict[str, FileEntry] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def local_manifest(root: Path, known: Known | None = None) -> Manifest:
    """Hash every regular file under ``root``; symlinks are skipped and listed, never followed.
    A file ``known`` vouches for (unchanged since the mirror hashed it) is not read again."""
    walk = walk_regular_files(root)
    manifest = Manifest(skipped=sorted(walk.skipped))
    for rel in sorted(walk.files):
        if is_ignored(rel):
            manifest.ignored.append(rel)
            continue
        opened = open_regular(root, rel)
        if opened is None:  # vanished or swapped for a symlink since the walk
            continue
        with opened:
            upload = (known or {}).get(rel)
            sha = upload.sha256 if upload and upload.vouches_for_file(opened.sig) \
                else opened.sha256()
            manifest.files[rel] = FileEntry(rel, opened.sig.size, sha)
    return manifest


def s3_manifest(client: Any, s3_uri: str, known: Known | None = None) -> dict[str, FileEntry]:
    """Every object under the prefix (directory markers excluded), hashed by streaming it,
    unless ``known`` has its hash from the upload whose ETag the listing still shows.

    An object deleted between the listing and its download is left out. One whose content does
    not match its stored checksum (an upload racing a rewrite, on a server that does not check
    checksums) is read again a few times, then raises CheckpointError.
    """
    loc = parse_s3_uri(s3_uri)
    entries: dict[str, FileEntry] = {}
    for obj in list_objects(client, loc.bucket, loc.prefix):
        key: str = obj["Key"]
        if key.endswith("/"):
            continue
        rel = loc.relative(key)
        upload = (known or {}).get(rel)
        if upload and upload.vouches_for_object(int(obj.get("Size", -1)), obj.get("ETag", "")):
            entries[rel] = FileEntry(rel, upload.sig.size, upload.sha256)
            continue
        for attempt in range(1, _CHECKSUM_ATTEMPTS + 1):
            try:
                entry = _hash_object(client, loc.bucket, key, loc.relative(key))
                break
            except FlexibleChecksumError as exc:
                if attempt == _CHECKSUM_ATTEMPTS:
                    raise CheckpointError(f"s3://{loc.bucket}/{key}: {exc}") from exc
                time.sleep(0.2 * attempt)
        if entry is not None:
            entries[entry.path] = entry
    return entries


def _hash_object(client: Any, bucket: str, key: str, rel: str) -> FileEntry | None:
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None  # deleted since the listing
        raise
    digest = hashlib.sha256()
    size = 0
    try:
        while chunk := body.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    finally:
        body.close()
    return FileEntry(rel, size, digest.hexdigest())


def list_objects(client: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """All objects (``Key``, ``Size``, ``ETag``...) under ``prefix``, across pages."""
    objects: list[dict[str, Any]] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects.extend(page.get("Contents", []))
    return objects


@dataclass(frozen=True)
class ManifestDiff:
    """How manifest ``a`` differs from manifest ``b`` (paths sorted)."""

    only_in_a: list[str]
    only_in_b: list[str]
    changed: list[str]

    def __bool__(self) -> bool:
        return bool(self.only_in_a or self.only_in_b or self.changed)

    def describe(self, a_name: str = "a", b_name: str = "b") -> list[str]:
        """One human-readable line per difference; empty when the manifests match."""
        return (
            [f"{p}: only in {a_name}" for p in self.only_in_a]
            + [f"{p}: only in {b_name}" for p in self.only_in_b]
            + [f"{p}: content differs between {a_name} and {b_name}" for p in self.changed]
        )


def _files(m: Manifest | Mapping[str, FileEntry]) -> Mapping[str, FileEntry]:
    return m.files if isinstance(m, Manifest) else m


def diff(
    a: Manifest | Mapping[str, FileEntry], b: Manifest | Mapping[str, FileEntry]
) -> ManifestDiff:
    """Compare two manifests by path, size and SHA-256."""
    fa, fb = _files(a), _files(b)
    return ManifestDiff(
        only_in_a=sorted(set(fa) - set(fb)),
        only_in_b=sorted(set(fb) - set(fa)),
        changed=sorted(p for p in set(fa) & set(fb) if fa[p] != fb[p]),
    )


def verify_mirror(client: Any, s3_uri: str, local_dir: Path,
                  known: Known | None = None) -> list[str]:
    """Differences between the mirrorable files of ``local_dir`` and the objects under
    ``s3_uri``; an empty list means S3 holds exactly the local tree. ``known``: the mirror's
    uploads, whose bytes are not read again where file and object are still those versions."""
    return diff(local_manifest(local_dir, known),
                s3_manifest(client, s3_uri, known)).describe("local", "S3")
