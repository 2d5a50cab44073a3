"""The per-path action of the mirror: look at one local path, make S3 agree with it.

State (under one lock, never held during network I/O):
- ``synced``: relative path → signature of the local version S3 is known to hold;
- ``owned``: keys this mirror may delete: uploaded by it, or present both in S3 and locally
  when it started (restored files). Other objects under the prefix are never touched.
- ``failures``: relative path → last error, until a later attempt succeeds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from boto3.s3.transfer import TransferConfig

from emulator.checkpoints.localfs import (
    FileSig,
    OpenedFile,
    open_regular,
    remove_nofollow,
    stat_regular,
    touch_nofollow,
    walk_regular_files,
)
from emulator.checkpoints.manifest import FileEntry, KnownUpload
from emulator.checkpoints.reports import MirrorEvent, SyncReport
from emulator.checkpoints.retry import ATTEMPTS, NO_PATIENCE, Patience, with_retries
from emulator.checkpoints.sagemaker_names import is_ignored, uploaded_marker, uploading_marker
from emulator.checkpoints.transfer import HashingReader
from emulator.errors import CheckpointError
from emulator.s3uri import S3Location
from emulator.storage.blobstore import BlobStore, Transfers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """Whether the path must be looked at again, and when."""

    again_in: float | None = None
    quiet: bool = False


DONE = Outcome()

SINGLE_PUT_MAX = 5 * 1024**3  # S3's limit for one PutObject


class PathSyncer:
    """Uploads, deletes and bookkeeping for one local root mirrored to one S3 prefix."""

    def __init__(
        self,
        root: Path,
        location: S3Location,
        store: BlobStore,
        transfer_config: TransferConfig,
        *,
        markers: bool,
        quiet_seconds: float,
        on_event: Callable[[MirrorEvent], None] | None,
        cancel: threading.Event,
        attempts: int = ATTEMPTS,
        patience: Patience = NO_PATIENCE,
    ) -> None:
        self.root = root
        self.location = location
        self._store = store
        self._config = transfer_config
        self._markers = markers
        self._quiet_seconds = quiet_seconds
        self._on_event = on_event
        self._cancel = cancel
        self._attempts = attempts
        # The start waits that long for S3; a failed upload or deletion is tried again later
        # (by the mirror), so only its retries are told.
        self._patience = patience
        self._retries_only = Patience(0.0, patience.on_retry)
        self._lock = threading.Lock()
        self._synced: dict[str, FileSig] = {}
        self._known: dict[str, KnownUpload] = {}  # what the last upload of each path sent
        self._owned: set[str] = set()
        self._failures: dict[str, str] = {}
        self._report = SyncReport()
        self._transfers: Transfers | None = None  # one manager for all multipart uploads
        self.single_put_max = SINGLE_PUT_MAX
        self.on_sent: Callable[[str, int], None] | None = None  # (path, bytes sent) as it goes

    def close(self) -> None:
        """Shut the transfer manager down (the store stays with whoever made it)."""
        with self._lock:
            transfers, self._transfers = self._transfers, None
        if transfers is not None:
            transfers.close()

    def _transfer_manager(self) -> Transfers:
        with self._lock:
            if self._transfers is None:
                self._transfers = self._store.transfers(self._config)
            return self._transfers

    # -- start and reconcile -------------------------------------------------------------

    def baseline(self) -> list[str]:
        """Read S3 and the local tree at start; return the paths that need work.

        Files present in both with equal sizes are taken as in sync (a restore just wrote them).
        """
        loc = self.location
        objects = with_retries(lambda: self._store.list_objects(loc.bucket, loc.prefix),
                               cancel=self._cancel, patience=self._patience)
        remote = {loc.relative(o.key): o.size for o in objects}
        local = walk_regular_files(self.root).files
        dirty: list[str] = []
        with self._lock:
            for rel, sig in local.items():
                if is_ignored(rel):
                    continue
                if rel in remote:
                    self._owned.add(rel)
                    if remote[rel] == sig.size:
                        self._synced[rel] = sig
                        continue
                dirty.append(rel)
        return sorted(dirty)

    def reconcile_candidates(self) -> list[str]:
        """Paths where the local tree and what we know of S3 disagree (or that failed)."""
        local = walk_regular_files(self.root).files
        with self._lock:
            dirty = {
                rel
                for rel, sig in local.items()
                if not is_ignored(rel) and self._synced.get(rel) != sig
            }
            dirty.update(rel for rel in self._owned if rel not in local)
            dirty.update(self._failures)
        return sorted(dirty)

    def owned_under(self, directory: str) -> list[str]:
        """Owned paths below ``directory`` (relative, no trailing slash)."""
        prefix = f"{directory}/"
        with self._lock:
            return sorted(rel for rel in self._owned if rel.startswith(prefix))

    def failed_paths(self) -> list[str]:
        with self._lock:
            return sorted(self._failures)

    def known_uploads(self) -> dict[str, KnownUpload]:
        """Each path's last upload (what the end-of-attempt proof need not read again)."""
        with self._lock:
            return dict(self._known)

    def _etag_of(self, key: str) -> str:
        """The ETag S3 lists for ``key`` now ("" when it cannot say)."""
        try:
            listed = self._store.list_objects(self.location.bucket, key)
        except Exception:  # the proof then reads the object instead
            return ""
        return next((o.etag for o in listed if o.key == key), "")

    def take_report(self, *, dropped: Iterable[str] = ()) -> SyncReport:
        """The actions since the previous report, plus the errors still unresolved."""
        with self._lock:
            report, self._report = self._report, SyncReport()
            report.errors = [f"{p}: {m}" for p, m in sorted(self._failures.items())]
        report.dropped = list(dropped)
        return report

    # -- one path ------------------------------------------------------------------------

    def process(self, rel: str, *, quiet: bool, urgent: bool) -> Outcome:
        """Make S3 agree with the local path ``rel`` as it is now."""
        opened = None if is_ignored(rel) else open_regular(self.root, rel)
        if opened is None:
            with self._lock:
                gone = rel in self._owned
            if gone:
                self._delete(rel)
            return DONE
        with opened:
            if quiet:
                idle = time.time() - opened.sig.mtime_ns / 1e9
                if not urgent and idle < self._quiet_seconds:
                    return Outcome(again_in=self._quiet_seconds - idle, quiet=True)
                with self._lock:
                    if self._synced.get(rel) == opened.sig:
                        return DONE
            result = self._upload(rel, opened)
            if result == "failed":
                return DONE
            changed = result == "again" or opened.current_sig() != opened.sig
        # Rewritten in place, replaced or removed while we uploaded: look again.
        if changed or stat_regular(self.root, rel) != opened.sig:
            return Outcome(again_in=0.0)
        return DONE

    def _upload(self, rel: str, opened: OpenedFile) -> Literal["done", "again", "failed"]:
        loc = self.location
        key = loc.key_for(rel)
        started = time.monotonic()
        with self._lock:
            self._owned.add(rel)
        self._set_marker(rel, uploading=True)
        size = opened.sig.size
        small = size < self._config.multipart_threshold
        # Small files: read once into memory, hashed and sent from the same bytes in one PUT.
        # Large files to a server that holds whole objects (moto): one streamed PUT, hashed as
        # it is sent (moto would copy a multipart object whole to assemble it). Other large
        # files go in parts through the mirror's one transfer manager and are hashed on another
        # thread meanwhile (hashlib releases the GIL): the slower of the two counts.
        streamed = not small and self._store.whole_object and size <= self.single_put_max
        digest = None if small or streamed else _Hash(opened, background=True)
        sent_sha: list[str] = []
        etag: list[str] = [""]  # what S3 answered: the proof trusts the hash while it holds
        read_at_ns = time.time_ns()

        def put_small() -> bool:
            data = _read_exactly(opened.fd, size)
            if data is None:
                return True  # the file changed size under us: look again
            sha = hashlib.sha256(data).hexdigest()
            sent_sha[:] = [sha]
            etag[0] = self._store.put_bytes(loc.bucket, key, data, sha)
            return False

        def put_streamed() -> bool:
            on_sent = self.on_sent
            reader = HashingReader(opened.fd, size, None if on_sent is None
                                   else lambda sent: on_sent(rel, sent))
            etag[0] = self._store.put_stream(loc.bucket, key, reader, size)
            if not reader.complete:  # the server answered before taking every byte
                raise CheckpointError(f"upload of {rel} ended early")
            sent_sha[:] = [reader.sha256()]
            return reader.shrank

        def put_large() -> bool:
            shrank = self._transfer_manager().upload_file(opened.read_path, loc.bucket, key)
            etag[0] = "" if shrank else self._etag_of(key)
            return shrank

        try:
            shrank = with_retries(
                put_small if small else put_streamed if streamed else put_large,
                attempts=self._attempts,
                cancel=self._cancel,
                patience=self._retries_only,
            )
            sha = sent_sha[0] if sent_sha else (digest.result() if digest else "")
        except Exception as exc:
            if digest is not None:
                digest.result_or_none()
            self._set_marker(rel, uploading=False, uploaded=False)
            self._fail(rel, f"upload to s3://{loc.bucket}/{key} failed: {exc}", started)
            with self._lock:
                self._synced.pop(rel, None)
                self._known.pop(rel, None)
            return "failed"
        if shrank:  # S3 holds a padded mix: not a version worth recording
            with self._lock:
                self._synced.pop(rel, None)
                self._known.pop(rel, None)
            self._set_marker(rel, uploading=False, uploaded=False)
            return "again"
        entry = FileEntry(rel, opened.sig.size, sha)
        with self._lock:
            self._synced[rel] = opened.sig
            self._known[rel] = KnownUpload(opened.sig, sha, etag[0], read_at_ns)
            self._resolve(rel)
            self._report.uploaded.append(entry)
        self._set_marker(rel, uploading=False, uploaded=True)
        self._emit(MirrorEvent("uploaded", rel, entry.size, sha, time.time(), _since(started),
                               modified_at=opened.sig.mtime_ns / 1e9))
        return "done"

    def _delete(self, rel: str) -> None:
        loc = self.location
        key = loc.key_for(rel)
        started = time.monotonic()
        try:
            with_retries(
                lambda: self._store.delete(loc.bucket, key),
                attempts=self._attempts,
                cancel=self._cancel,
                patience=self._retries_only,
            )
        except Exception as exc:
            self._fail(rel, f"delete of s3://{loc.bucket}/{key} failed: {exc}", started)
            return
        with self._lock:
            self._owned.discard(rel)
            self._synced.pop(rel, None)
            self._known.pop(rel, None)
            self._resolve(rel)
            self._report.deleted.append(rel)
        self._set_marker(rel, uploading=False, uploaded=False)
        self._emit(MirrorEvent("deleted", rel, 0, None, time.time(), _since(started)))

    # -- helpers -------------------------------------------------------------------------

    def _resolve(self, rel: str) -> None:
        """Caller holds the lock: a success clears the path's earlier failure."""
        message = self._failures.pop(rel, None)
        if message is not None:
            self._report.recovered.append(f"{rel}: {message}")

    def _fail(self, rel: str, message: str, started: float) -> None:
        logger.warning("checkpoint mirror: %s: %s", rel, message)
        with self._lock:
            self._failures[rel] = message
        self._emit(MirrorEvent("error", rel, 0, None, time.time(), _since(started), message))

    def _set_marker(self, rel: str, *, uploading: bool, uploaded: bool = False) -> None:
        if not self._markers:
            return
        try:
            for name, want in (
                (uploading_marker(rel), uploading),
                (uploaded_marker(rel), uploaded),
            ):
                if want:
                    touch_nofollow(self.root, name)
                else:
                    remove_nofollow(self.root, name)
        except OSError as exc:  # the directory may be gone already
            logger.debug("checkpoint mirror: marker for %s: %s", rel, exc)

    def _emit(self, event: MirrorEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            logger.exception("checkpoint mirror: on_event callback failed")


def _read_exactly(fd: int, size: int) -> bytes | None:
    """The file's ``size`` bytes from offset 0, or None if it is now shorter or longer."""
    chunks: list[bytes] = []
    offset = 0
    while offset <= size:
        chunk = os.pread(fd, size + 1 - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks) if offset == size else None


class _Hash:
    """SHA-256 of an opened file, computed now or on a helper thread."""

    def __init__(self, opened: OpenedFile, *, background: bool) -> None:
        self._value: str | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, args=(opened,),
                                            name="smemu-ckpt-hash", daemon=True)
            self._thread.start()
        else:
            self._run(opened)

    def _run(self, opened: OpenedFile) -> None:
        try:
            self._value = opened.sha256()
        except BaseException as exc:  # re-raised by result()
            self._error = exc

    def result(self) -> str:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    def result_or_none(self) -> str | None:
        """Wait for the hash (the file must stay open until it is done); never raises."""
        try:
            return self.result()
        except BaseException:
            return None


def _since(started: float) -> float:
    return time.monotonic() - started
