"""CheckpointMirror: keep an S3 prefix equal to a local directory while something writes it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from boto3.s3.transfer import TransferConfig

from emulator.checkpoints.flush_progress import FlushProgress
from emulator.checkpoints.localfs import walk_regular_files
from emulator.checkpoints.manifest import KnownUpload
from emulator.checkpoints.observer import DirectoryObserver, SinkHandler
from emulator.checkpoints.path_sync import PathSyncer
from emulator.checkpoints.reports import MirrorEvent, SyncReport
from emulator.checkpoints.retry import NO_PATIENCE, Patience
from emulator.checkpoints.sagemaker_names import is_ignored
from emulator.checkpoints.transfer import default_transfer_config
from emulator.checkpoints.workqueue import PathQueue
from emulator.errors import CheckpointError
from emulator.s3uri import parse_s3_uri
from emulator.storage.blobstore import BlobStore

logger = logging.getLogger(__name__)

HEALTH_CHECK_S = 0.5
RESYNC_MIN_INTERVAL_S = 1.0  # at most one re-watch per second after stale-watch symptoms
FLUSH_RETRY_MAX_S = 4.0  # the longest pause between two rounds of a patient flush


class CheckpointMirror:
    """Mirror ``local_dir`` to ``s3_uri`` as SageMaker does during training.

    Files are uploaded as-is under the same relative key when closed after writing or renamed
    into place, and again whenever they change; local deletions (of files or whole directories)
    delete the keys. Files ending ``.sagemaker-ignore`` and marker files are left alone;
    symlinks are never followed. Only keys this mirror uploaded, or that existed both in S3 and
    locally when it started, are ever deleted.

    ``settle_seconds`` delays each upload or deletion after the event that marked it; events
    meanwhile join it without pushing it back, so a file rewritten faster than that is still
    uploaded every ``settle_seconds``. A file once renamed away (a temp file of "write, then
    rename into place") is the exception: each event pushes it back, so a temp file renamed
    within ``settle_seconds`` of being closed is never uploaded (nor reported), however often
    the script writes it; one left in place (e.g. by a kill) is uploaded like any other file.
    ``quiet_seconds`` is how long a file must be unmodified before it is uploaded
    without a close event (files found by a directory scan, writers that keep files open, and
    the polling fallback). ``retry_seconds`` is how often failed paths are tried again in the
    background, for as long as the mirror runs. ``patience`` is how long the start and the
    final flush (``stop``) go on trying while S3 does not answer, before they report errors.
    ``rescan_seconds`` (None: never) is how often the whole tree is compared with what was
    uploaded, catching anything the watcher missed (inotify queue overflow); a dead
    watcher is restarted, followed by such a rescan. Errors never vanish: ``flush()``/``stop()``
    report what is still not mirrored.

    Use as a context manager (``__exit__`` stops with a flush and raises CheckpointError if
    anything could not be mirrored) or call ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        local_dir: Path,
        s3_uri: str,
        store: BlobStore,
        *,
        workers: int = 8,
        markers: bool = False,
        on_event: Callable[[MirrorEvent], None] | None = None,
        transfer_config: TransferConfig | None = None,
        settle_seconds: float = 0.0,
        quiet_seconds: float = 1.0,
        retry_seconds: float = 5.0,
        rescan_seconds: float | None = 30.0,
        patience: Patience = NO_PATIENCE,
    ) -> None:
        self.local_dir = Path(local_dir).absolute()
        self.location = parse_s3_uri(s3_uri)
        self.workers = max(1, workers)
        self.settle_seconds = settle_seconds
        self.quiet_seconds = quiet_seconds
        self.retry_seconds = retry_seconds
        self.rescan_seconds = rescan_seconds
        self.patience = patience
        self._cancel = threading.Event()
        self._syncer = PathSyncer(
            self.local_dir,
            self.location,
            store,
            transfer_config or default_transfer_config(),
            markers=markers,
            quiet_seconds=quiet_seconds,
            on_event=on_event,
            cancel=self._cancel,
            patience=patience,
        )
        self._queue = PathQueue()
        self.flush_progress = FlushProgress(self.local_dir)  # of the final flush (stop)
        self._syncer.on_sent = self.flush_progress.sending
        self._renamed_away: set[str] = set()  # temp files: renamed to another name before
        self._threads: list[threading.Thread] = []
        # The directory's one observer; other listeners (the activity recorder) may join it.
        self.observer = DirectoryObserver(self.local_dir)
        self._handler = SinkHandler(str(self.local_dir), self)
        self._lifecycle = threading.Lock()
        self._accepting = False
        self._started = False
        self._final_report: SyncReport | None = None
        self._stopping = threading.Event()
        self._stale = threading.Event()  # the watcher reported paths it can no longer place
        self._resync = threading.Event()  # wakes housekeeping early
        self.resyncs = 0  # how many times the watch was rebuilt after stale events

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._started and self._final_report is None

    def known_uploads(self) -> dict[str, KnownUpload]:
        """What the mirror hashed and S3 acknowledged, by path: the end-of-attempt proof
        (``verify_mirror(..., known=)``) does not read those bytes again."""
        return self._syncer.known_uploads()

    @property
    def uses_close_events(self) -> bool:
        """True when the inotify observer runs (False: the polling fallback)."""
        return self.observer.close_events

    def start(self) -> CheckpointMirror:
        """Watch the directory, read the S3 prefix and queue whatever differs. Raises
        CheckpointError (after cleaning up) if the prefix cannot be listed."""
        with self._lifecycle:
            if self._started:
                raise CheckpointError("checkpoint mirror already started")
            self._started = True
            try:
                self.local_dir.mkdir(parents=True, exist_ok=True)
                self._accepting = True
                # Watch first, then read: nothing written meanwhile can slip between the two.
                self.observer.subscribe(self._handler)
                try:
                    dirty = self._syncer.baseline()
                except Exception as exc:
                    raise CheckpointError(
                        f"cannot read checkpoint prefix {self.location.uri}: {exc}"
                    ) from exc
                for rel in dirty:
                    self._queue.put(rel)
                self._spawn()
            except BaseException:
                self._teardown()
                self._final_report = SyncReport()
                raise
        return self

    def _spawn(self) -> None:
        for i in range(self.workers):
            t = threading.Thread(target=self._work, name=f"smemu-ckpt-upload-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        keeper = threading.Thread(
            target=self._housekeeping, name="smemu-ckpt-housekeeping", daemon=True
        )
        keeper.start()
        self._threads.append(keeper)

    def flush(self, timeout: float | None = None,
              progress: FlushProgress | None = None) -> SyncReport:
        """Do everything queued now (skipping delays), then reconcile the whole tree against
        what was uploaded, and report. Unresolved failures are in ``report.errors``; a timeout
        adds an error too. Use ``report.raise_for_errors()`` to turn them into an exception."""
        if not self._started:
            raise CheckpointError("checkpoint mirror not started")
        deadline = None if timeout is None else time.monotonic() + timeout

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        with self._queue.hurry():
            done = self._queue.wait_idle(left())
            if done:
                candidates = self._syncer.reconcile_candidates()
                if progress is not None:
                    progress.add(candidates)
                for rel in candidates:
                    self._queue.put(rel)
                done = self._queue.wait_idle(left())
        report = self._syncer.take_report()
        if not done:
            report.errors.append(
                f"flush timed out after {timeout}s with {self._queue.size()} paths pending"
            )
        return report

    def stop(self, flush: bool = True, timeout: float | None = None) -> SyncReport:
        """Stop watching. With ``flush`` (default) first mirror everything, as after a normal
        exit; without, drop what is pending: what was not uploaded yet is lost, as when an
        instance is killed (transfers already in flight finish). ``timeout`` bounds the whole
        call; what is left undone then is reported in ``errors``/``dropped``. Idempotent: later
        calls return the first call's report."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lifecycle:
            if self._final_report is not None:
                return self._final_report
            if not self._started:
                self._final_report = SyncReport()
                return self._final_report
            self._stopping.set()
            self._resync.set()
            if flush:
                self._stop_observer()
                self.flush_progress.begin()  # what is pending, and what the reconcile finds
                self.flush_progress.add(self._queue.paths() |
                                        set(self._syncer.reconcile_candidates()))
                report = None
                try:
                    report = self._patient_flush(timeout, deadline)
                finally:
                    self.flush_progress.end(complete=report is not None and not report.errors)
                dropped, running = self._teardown(deadline)
                report = _merge(report, self._syncer.take_report(dropped=dropped))
            else:
                dropped, running = self._teardown(deadline)
                report = self._syncer.take_report(dropped=dropped)
            if running:
                report.errors.append(f"{running} transfers were still running when stop returned")
            self._final_report = report
            return report

    def _patient_flush(self, timeout: float | None, deadline: float | None) -> SyncReport:
        """Flush; while errors remain, flush again (backing off) until ``patience`` has passed
        since the first round (or the stop's ``timeout``)."""
        started = time.monotonic()
        report = self.flush(timeout, self.flush_progress)
        pause = 0.25
        while report.errors:
            now = time.monotonic()
            left = self.patience.seconds - (now - started)
            if deadline is not None:
                left = min(left, deadline - now)
            if left <= pause:
                break
            time.sleep(pause)
            if self.patience.on_retry is not None:
                self.patience.on_retry(pause)
            pause = min(pause * 2, FLUSH_RETRY_MAX_S)
            more = self.flush(None if deadline is None else max(0.0, deadline - time.monotonic()),
                              self.flush_progress)
            report = _merge(report, more)
            report.errors = list(more.errors)  # what the last round left
        return report

    def _teardown(self, deadline: float | None = None) -> tuple[list[str], int]:
        """Stop everything; return the dropped pending paths and how many threads still run."""
        self._accepting = False
        self._stopping.set()
        self._resync.set()
        self._cancel.set()  # no more retries: a flush, if any, is over
        self._stop_observer()
        dropped = self._queue.drop()
        self._queue.close()
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        running = sum(t.is_alive() for t in self._threads)
        if not running:
            self._syncer.close()
        return dropped, running

    def __enter__(self) -> CheckpointMirror:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        report = self.stop(flush=True)
        if exc_type is None:
            report.raise_for_errors()

    # -- EventSink (called from the observer thread) -----------------------------------

    def changed(self, rel: str, *, quiet: bool) -> None:
        if not self._accepting or is_ignored(rel):
            return
        if quiet:
            self._queue.put(rel, delay=max(self.quiet_seconds, self.settle_seconds), quiet=True)
        else:
            self._queue.put(rel, delay=self.settle_seconds, push_back=rel in self._renamed_away)

    def moved_away(self, rel: str) -> None:
        if not self._accepting or is_ignored(rel):
            return
        self._renamed_away.add(rel)
        self._queue.put(rel, delay=self.settle_seconds, push_back=True)

    def tree_gone(self, rel: str) -> None:
        if not self._accepting:
            return
        for child in self._syncer.owned_under(rel):
            self._queue.put(child, delay=self.settle_seconds)
        self._queue.put(rel, delay=self.settle_seconds)

    def watch_stale(self, rel: str) -> None:
        if self._accepting and not self._stale.is_set():
            logger.debug("checkpoint watcher: event at %s outside any directory; re-watching", rel)
            self._stale.set()
            self._resync.set()

    def tree_arrived(self, rel: str, *, quiet: bool) -> None:
        if not self._accepting:
            return
        for child in walk_regular_files(self.local_dir, below=rel).files:
            self.changed(child, quiet=quiet)

    # -- threads -------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            got = self._queue.take()
            if got is None:
                return
            rel, quiet = got
            try:
                outcome = self._syncer.process(rel, quiet=quiet, urgent=self._queue.urgent)
                if outcome.again_in is not None:
                    self._queue.put(rel, delay=outcome.again_in, quiet=outcome.quiet)
                else:
                    self.flush_progress.finished(rel)
            except Exception:
                logger.exception("checkpoint mirror: unexpected error on %s", rel)
            finally:
                self._queue.done(rel)

    def _housekeeping(self) -> None:
        """Retry failed paths, rescan the tree now and then, restart a dead watcher."""
        now = time.monotonic()
        next_retry = now + self.retry_seconds
        next_rescan = None if self.rescan_seconds is None else now + self.rescan_seconds
        last_resync = 0.0
        while not self._stopping.is_set():
            self._resync.wait(HEALTH_CHECK_S)
            self._resync.clear()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            if self.observer.subscribed(self._handler) and not self.observer.healthy():
                self._restart_watcher()
                next_rescan = now  # whatever happened meanwhile went unseen
            elif self._stale.is_set() and now - last_resync >= RESYNC_MIN_INTERVAL_S:
                # Watch afresh (new inotify watches, right paths), then look at everything.
                self._stale.clear()
                last_resync = now
                self.resyncs += 1
                self._restart_watcher(quiet=True)
                self.rescan()
            elif self._stale.is_set():
                self._resync.set()  # too soon after the last one: come back shortly
                self._stopping.wait(RESYNC_MIN_INTERVAL_S - (now - last_resync))
            if self._queue.urgent:
                continue  # a flush does all of this itself
            if now >= next_retry:
                next_retry = now + self.retry_seconds
                for rel in self._syncer.failed_paths():
                    self._queue.put(rel)
            if next_rescan is not None and now >= next_rescan:
                next_rescan = None if self.rescan_seconds is None else now + self.rescan_seconds
                self.rescan()

    def rescan(self) -> None:
        """Queue every path whose local state differs from what was mirrored, as probes (a file
        still being written waits until it is quiet)."""
        for rel in self._syncer.reconcile_candidates():
            self.changed(rel, quiet=True)

    def _stop_observer(self) -> None:
        self.observer.unsubscribe(self._handler)

    def _restart_watcher(self, quiet: bool = False) -> None:
        if self._stopping.is_set() or not self.observer.subscribed(self._handler):
            return
        if not quiet:
            logger.warning("checkpoint watcher on %s died; restarting it", self.local_dir)
        try:
            self.observer.restart()
        except Exception:
            logger.exception("checkpoint watcher: cannot restart; relying on rescans")


def _merge(first: SyncReport, second: SyncReport) -> SyncReport:
    first.uploaded.extend(second.uploaded)
    first.deleted.extend(second.deleted)
    first.recovered.extend(second.recovered)
    first.dropped.extend(second.dropped)
    timeouts = [e for e in first.errors if e.startswith("flush timed out")]
    first.errors = second.errors + timeouts
    return first
