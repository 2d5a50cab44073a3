"""Restore: bring everything under a checkpoint prefix down to a local directory."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from emulator.checkpoints.keys import safe_parts
from emulator.checkpoints.manifest import FileEntry
from emulator.checkpoints.retry import NO_PATIENCE, Patience, with_retries
from emulator.checkpoints.transfer import default_transfer_config
from emulator.errors import CheckpointError
from emulator.s3uri import S3Location, parse_s3_uri
from emulator.storage.blobstore import BlobStore, StoredObject

_CHUNK = 1024 * 1024

ProgressCallback = Callable[[int, int, str], None]
"""Called from transfer threads as bytes arrive: (bytes done, bytes in total, relative path)."""


@dataclass
class RestoreReport:
    """What a restore brought down: one entry per file, the directory markers, totals."""

    files: list[FileEntry] = field(default_factory=list)
    directories: list[str] = field(default_factory=list)
    etags: dict[str, str] = field(default_factory=dict)  # each file's ETag in the listing
    total_bytes: int = 0
    seconds: float = 0.0
    # String-prefix restores: the sibling prefixes (s3://b/ASHA-10 for s3://b/ASHA-1) whose
    # objects came down only because their keys start with the S3Uri's string.
    siblings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Planned:
    key: str
    relative: str
    parts: tuple[str, ...]
    size: int


def _relative(key: str, prefix: str) -> str:
    """The local path of ``key``: the key minus the prefix string, a leading ``/`` dropped."""
    relative = key[len(prefix):]
    return relative.removeprefix("/") if prefix and not prefix.endswith("/") else relative


def _plan(objects: list[StoredObject], prefix: str) -> tuple[list[_Planned], list[str]]:
    """Validate every key before anything is written; return files and directory markers.

    ``prefix`` is a string prefix: without a trailing ``/`` (``ASHA-1``) it also matches
    sibling keys (``ASHA-10/x`` comes down as ``0/x``). When two keys land on one local path
    (``ASHA-1/x`` and ``ASHA-1x``), the key of the prefix's own directory wins."""
    files: dict[str, _Planned] = {}
    dirs: set[str] = set()
    own = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    for obj in sorted(objects, key=lambda o: (not o.key.startswith(own), o.key)):
        key = obj.key
        relative = _relative(key, prefix)
        if not relative:
            continue  # a marker object for the prefix itself
        if relative.endswith("/"):
            dirs.add("/".join(safe_parts(key, relative.rstrip("/") or "/")))
            continue
        parts = tuple(safe_parts(key, relative))
        files.setdefault(relative, _Planned(key, relative, parts, obj.size))
    needed_dirs = set(dirs)
    for f in files.values():
        needed_dirs.update("/".join(f.parts[:i]) for i in range(1, len(f.parts)))
    for f in files.values():
        if f.relative in needed_dirs:
            raise CheckpointError(
                f"refusing S3 key {f.key!r}: it is a file and also a directory"
            )
    return list(files.values()), sorted(dirs)


def sibling_prefixes(keys: list[str], prefix: str) -> list[str]:
    """The sibling prefixes among ``keys`` that a string prefix without ``/`` matched:
    ``ASHA-10`` for ``ASHA-10/x`` under ``ASHA-1``; a key without ``/`` after the prefix is its
    own sibling."""
    if not prefix or prefix.endswith("/"):
        return []
    found = {prefix + key[len(prefix):].split("/", 1)[0] for key in keys
             if key.startswith(prefix) and key[len(prefix):][:1] not in ("", "/")}
    return sorted(found)


def _ensure_dir(root: Path, parts: tuple[str, ...] | list[str]) -> None:
    """mkdir -p below ``root``, refusing to go through a symlink or a non-directory."""
    path = root
    for part in parts:
        path = path / part
        if path.is_symlink():
            raise CheckpointError(f"refusing to restore through symlink {path}")
        if not path.exists():
            path.mkdir()
        elif not path.is_dir():
            raise CheckpointError(f"cannot restore below {path}: it is not a directory")


class _Progress:
    def __init__(self, total: int, callback: ProgressCallback | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback
        self._lock = threading.Lock()

    def add(self, relative: str, n: int) -> None:
        with self._lock:
            self.done += n
            done = self.done
        if self._callback is not None:
            self._callback(done, self.total, relative)


_temp_names = itertools.count()
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _write_streamed(target: Path, feed: Callable[[Callable[[bytes], None]], object],
                    on_bytes: Callable[[int], None]) -> str:
    """Write what ``feed`` delivers into ``target`` (through a temp file renamed into place),
    hashing it on the way; its SHA-256."""
    temp = target.with_name(f".{target.name}.smemu-{os.getpid()}-{next(_temp_names)}")
    digest = hashlib.sha256()
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW,
                     0o666)
        try:

            def sink(chunk: bytes) -> None:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                digest.update(chunk)
                on_bytes(len(chunk))

            feed(sink)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _get_whole(store: BlobStore, bucket: str, key: str, target: Path,
               on_bytes: Callable[[int], None]) -> str:
    """One streamed GET into ``target``, hashed as it is written; its SHA-256."""
    return _write_streamed(target, lambda sink: store.get_stream(bucket, key, sink), on_bytes)


def _get_ranged(store: BlobStore, bucket: str, key: str, size: int, target: Path,
                on_bytes: Callable[[int], None], cfg: TransferConfig) -> str:
    """Parallel ranged GETs (``cfg``'s part size and concurrency), each written at its offset
    by the thread that fetched it, while this thread hashes the parts in order as they
    complete; all into a temp file renamed into place. At most ``max_concurrency + 2`` parts
    are in memory. Every part must come from the same version of the object (same ETag), else
    this raises and the caller starts over."""
    part = max(1, int(cfg.multipart_chunksize))
    workers = max(1, int(cfg.max_concurrency))
    window = workers + 2  # parts fetched ahead of the hashing
    temp = target.with_name(f".{target.name}.smemu-{os.getpid()}-{next(_temp_names)}")
    digest = hashlib.sha256()
    etags: set[str] = set()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW, 0o666)

    def fetch_part(start: int) -> tuple[bytes | bytearray, str]:
        data, etag = store.get_range(bucket, key, start, min(part, size - start))
        view, offset = memoryview(data), start
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        return data, etag

    try:
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smemu-range") as pool:
                pending: deque[Future[tuple[bytes | bytearray, str]]] = deque()
                starts = iter(range(0, size, part))
                try:
                    for start in itertools.islice(starts, window):
                        pending.append(pool.submit(fetch_part, start))
                    while pending:
                        data, etag = pending.popleft().result()
                        etags.add(etag)
                        if len(etags) > 1:
                            raise CheckpointError(f"{key} changed while it was downloaded")
                        following = next(starts, None)
                        if following is not None:
                            pending.append(pool.submit(fetch_part, following))
                        digest.update(data)
                        on_bytes(len(data))
                finally:
                    for fut in pending:
                        fut.cancel()
        finally:
            os.close(fd)  # the pool is shut down: no write is still running
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def restore(
    store: BlobStore,
    s3_uri: str,
    local_dir: Path,
    *,
    workers: int = 16,
    progress: ProgressCallback | None = None,
    transfer_config: TransferConfig | None = None,
    checksums: bool = True,
    string_prefix: bool = True,
    patience: Patience = NO_PATIENCE,
) -> RestoreReport:
    """Download every object under ``s3_uri`` into ``local_dir`` (same relative paths).

    ``string_prefix`` (SageMaker's way): the S3Uri is a string prefix, so ``s3://b/ASHA-1``
    also restores ``ASHA-10/...`` and ``ASHA-11/...``; a key's local path is the key minus
    the prefix string, a leading ``/`` dropped (the report's ``siblings`` names such
    prefixes). False: directory semantics, only the keys under ``ASHA-1/``.

    Keys are all validated first: one that would escape ``local_dir`` (``..``, absolute, empty
    segments) or collide file-with-directory raises CheckpointError naming it, before any file is
    written. Keys ending with ``/`` become directories. ``checksums`` hashes each file after it
    is written (for the report). Any failed download raises CheckpointError. Objects are fetched
    concurrently (``workers``); each object below the multipart threshold, or any object from a
    store that holds whole objects (the embedded moto: a ranged GET costs it the whole object),
    comes in one streamed GET hashed as it is written; larger objects in parallel ranged GETs,
    written and hashed in order as they arrive. Each request is retried, for ``patience``
    while S3 does not answer.
    """
    started = time.monotonic()
    loc = parse_s3_uri(s3_uri)
    cfg = transfer_config or default_transfer_config()
    prefix = loc.prefix
    if string_prefix and loc.prefix and not loc.key.endswith("/"):
        prefix = loc.prefix.rstrip("/")  # s3://b/ASHA-1: every key starting "ASHA-1"
    try:
        objects = with_retries(lambda: store.list_objects(loc.bucket, prefix), patience=patience)
    except Exception as exc:
        raise CheckpointError(f"cannot list {loc.uri}: {exc}") from exc
    files, dirs = _plan(objects, prefix)

    local_dir.mkdir(parents=True, exist_ok=True)
    for d in dirs:
        _ensure_dir(local_dir, d.split("/"))
    for f in files:
        _ensure_dir(local_dir, f.parts[:-1])

    tracker = _Progress(sum(f.size for f in files), progress)
    fetch = _Fetcher(store, loc, local_dir, cfg, tracker, checksums, patience)
    etag_of = {o.key: o.etag for o in objects if o.etag}
    report = RestoreReport(directories=dirs, siblings=[
        f"s3://{loc.bucket}/{p}" for p in sibling_prefixes([o.key for o in objects], prefix)],
        etags={f.relative: etag_of[f.key] for f in files if f.key in etag_of})
    if files:
        _fetch_all(files, fetch, workers, report)
    report.total_bytes = sum(e.size for e in report.files)
    report.seconds = time.monotonic() - started
    return report


class _Fetcher:
    """Brings one planned file down (retried as a whole), as ``restore`` describes."""

    def __init__(self, store: BlobStore, loc: S3Location, local_dir: Path, cfg: TransferConfig,
                 tracker: _Progress, checksums: bool, patience: Patience) -> None:
        self.store, self.loc, self.local_dir, self.cfg = store, loc, local_dir, cfg
        self.tracker, self.checksums, self.patience = tracker, checksums, patience

    def __call__(self, item: _Planned) -> FileEntry:
        loc, store, tracker = self.loc, self.store, self.tracker
        target = self.local_dir.joinpath(*item.parts)
        got = [0]  # bytes of this file counted so far (parts arrive on several threads)
        got_lock = threading.Lock()

        def on_bytes(n: int) -> None:
            with got_lock:
                got[0] += n
            tracker.add(item.relative, n)

        whole = item.size < self.cfg.multipart_threshold or store.whole_object
        hashed: list[str] = []  # the hash computed while the file was written

        def attempt() -> None:
            with got_lock:
                counted, got[0] = got[0], 0
            if counted:  # a retry starts over: take back what the failed attempt counted
                tracker.add(item.relative, -counted)
            if whole:  # one GET, written and hashed as it arrives
                hashed[:] = [_get_whole(store, loc.bucket, item.key, target, on_bytes)]
            else:  # parallel ranges, written and hashed in order
                hashed[:] = [_get_ranged(store, loc.bucket, item.key, item.size, target,
                                         on_bytes, self.cfg)]

        try:
            with_retries(attempt, patience=self.patience)
        except Exception as exc:
            raise CheckpointError(
                f"could not restore s3://{loc.bucket}/{item.key} to {target}: {exc}"
            ) from exc
        size = target.stat().st_size
        if not self.checksums:
            return FileEntry(item.relative, size, "")
        return FileEntry(item.relative, size, hashed[0])


def _fetch_all(files: list[_Planned], fetch: Callable[[_Planned], FileEntry], workers: int,
               report: RestoreReport) -> None:
    """Run ``fetch`` for every file on a pool; the first failure cancels the rest, raised."""
    with ThreadPoolExecutor(
        max_workers=max(1, workers), thread_name_prefix="smemu-restore"
    ) as pool:
        futures = [pool.submit(fetch, f) for f in files]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [fut for fut in done if fut.exception() is not None]
        if failed:
            for fut in futures:
                fut.cancel()
            error = failed[0].exception()
            assert error is not None
            raise error
        report.files = sorted((fut.result() for fut in futures), key=lambda e: e.path)
