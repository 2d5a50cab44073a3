"""One file-system observer per checkpoint directory, feeding every listener of that directory.

``DirectoryObserver`` runs one watchdog observer over a root and hands each event to its
listeners: the mirror (through ``SinkHandler``, which turns events into "look at this path"
calls) and the activity recorder (resume signals). Linux uses the inotify observer explicitly
(open, close-after-write and rename events, across bind mounts too); elsewhere the polling
observer, which has no open or close events, so its modifications are treated as probes that
wait for the file to be quiet.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from watchdog.events import (
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver

from emulator.checkpoints.sagemaker_names import is_marker

logger = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5


class EventSink(Protocol):
    """What the watcher reports; paths are relative posix paths below the root."""

    def changed(self, rel: str, *, quiet: bool) -> None:
        """``rel`` was written and closed, renamed, or deleted (quiet: may be mid-write)."""

    def moved_away(self, rel: str) -> None:
        """The file ``rel`` was renamed to another name (or out of the tree)."""

    def tree_gone(self, rel: str) -> None:
        """The directory ``rel`` was deleted or moved away."""

    def tree_arrived(self, rel: str, *, quiet: bool) -> None:
        """The directory ``rel`` was created or moved in: look at every file in it."""

    def watch_stale(self, rel: str) -> None:
        """Something was written at ``rel`` whose directory does not exist: the observer's idea
        of where a watched directory is has gone wrong (see ``SinkHandler._check_parent``)."""


class SinkHandler(FileSystemEventHandler):
    """Routes the events below ``root`` to an ``EventSink``."""

    def __init__(self, root: str, sink: EventSink) -> None:
        super().__init__()
        self._root = root.rstrip(os.sep) or os.sep
        self._sink = sink

    def _rel(self, raw: Any) -> str | None:
        if not raw:
            return None
        path = os.fsdecode(raw)
        head = self._root if self._root.endswith(os.sep) else self._root + os.sep
        if not path.startswith(head) or path == head:
            return None
        return path[len(head) :].replace(os.sep, "/")

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._route(event)
        except Exception:  # never let one bad event stop the observer thread
            logger.exception("checkpoint watcher: cannot handle %r", event)

    def _check_parent(self, rel: str) -> None:
        """watchdog maps each inotify watch to the path it last knew. A directory moved into a
        directory whose own watch is not set up yet (created a moment before) arrives with no
        IN_MOVED_TO; watchdog then re-adds the same inode, keeps the old path, and reports every
        later event inside it under a path that no longer exists. A write or arrival whose
        parent directory is missing is the symptom: tell the sink, which re-watches and
        rescans."""
        parent = os.path.dirname(rel)
        if parent and not os.path.isdir(os.path.join(self._root, parent)):
            self._sink.watch_stale(rel)

    def _route(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in ("created", "closed") or (kind == "modified" and not event.is_directory):
            rel = self._rel(event.src_path)
            if rel is not None:
                self._check_parent(rel)
        elif kind == "moved":
            dest = self._rel(getattr(event, "dest_path", ""))
            if dest is not None:
                self._check_parent(dest)
        src = self._rel(event.src_path)
        sink = self._sink
        if kind == "moved":
            dest = self._rel(getattr(event, "dest_path", ""))
            if event.is_directory:
                if src:
                    sink.tree_gone(src)
                if dest:
                    sink.tree_arrived(dest, quiet=False)
            else:
                if src:
                    sink.moved_away(src)
                if dest:
                    sink.changed(dest, quiet=False)
        elif src is None:
            return
        elif kind == "deleted":
            if event.is_directory:
                sink.tree_gone(src)
            else:
                sink.changed(src, quiet=False)
        elif kind == "closed":
            sink.changed(src, quiet=False)
        elif kind == "created":
            if event.is_directory:
                sink.tree_arrived(src, quiet=True)
            else:
                sink.changed(src, quiet=True)
        elif kind == "modified" and not event.is_directory:
            sink.changed(src, quiet=True)


def _inotify(full_events: bool) -> BaseObserver:
    from watchdog.observers.inotify import InotifyObserver

    return InotifyObserver(generate_full_events=full_events)


def _polling() -> BaseObserver:
    from watchdog.observers.polling import PollingObserver

    return PollingObserver(timeout=POLL_INTERVAL_S)


def _start_observer(root: Path, handler: FileSystemEventHandler) -> tuple[BaseObserver, bool]:
    """Start an observer on ``root`` (recursive, symlinks not followed).

    Returns the running observer and whether it reports open and close events (inotify).
    Tries inotify with full move events (moves in and out of the tree are told apart from
    creations and deletions), then plain inotify (watchdog 4.0.0 cannot schedule full events),
    then polling.
    """
    attempts: list[tuple[str, Callable[[], BaseObserver], bool]] = []
    if sys.platform.startswith("linux"):
        attempts += [
            ("inotify", lambda: _inotify(True), True),
            ("inotify (plain moves)", lambda: _inotify(False), True),
        ]
    attempts.append(("polling", _polling, False))
    errors: list[str] = []
    for name, factory, close_events in attempts:
        observer: BaseObserver | None = None
        try:
            observer = factory()
            observer.schedule(handler, str(root), recursive=True)
            observer.start()
        except Exception as exc:  # e.g. fs.inotify.max_user_watches reached
            errors.append(f"{name}: {exc}")
            if observer is not None:
                stop_watching(observer)
            continue
        if errors:
            logger.warning("checkpoint watcher: using %s (%s)", name, "; ".join(errors))
        return observer, close_events
    raise OSError(f"cannot watch {root}: {'; '.join(errors)}")


def stop_watching(observer: BaseObserver, timeout: float = 5.0) -> None:
    try:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout)
    except Exception:
        logger.exception("checkpoint watcher: error while stopping the observer")


def is_healthy(observer: BaseObserver) -> bool:
    """False once the observer, one of its emitters or watchdog's inotify reader thread died
    (an exception inside watchdog kills it silently, and the mirror would go deaf)."""
    threads: list[Any] = [observer, *observer.emitters]
    reader = getattr(observer, "_inotify_fd", None)  # watchdog >= 7 reads in its own thread
    if isinstance(reader, threading.Thread):
        threads.append(reader)
    return all(t.is_alive() for t in threads)


def is_writers_change(event: FileSystemEvent) -> bool:
    """Whether `event` can be the writer's change: not a read (the mirror's uploads), not the
    mirror's own marker files, not a directory's modification (which always comes with the
    event of the entry that changed it)."""
    if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent | DirModifiedEvent):
        return False
    paths = [os.fsdecode(p) for p in (event.src_path, getattr(event, "dest_path", "")) if p]
    return not paths or not all(is_marker(p) for p in paths)


class _Fanout(FileSystemEventHandler):
    """Hands every event to each listener in turn; one listener's failure spares the others."""

    def __init__(self) -> None:
        super().__init__()
        self.listeners: tuple[FileSystemEventHandler, ...] = ()
        self.last_change = time.monotonic()  # of the writer's last change (is_writers_change)

    def dispatch(self, event: FileSystemEvent) -> None:
        if is_writers_change(event):
            self.last_change = time.monotonic()
        for listener in self.listeners:
            try:
                listener.dispatch(event)
            except Exception:
                logger.exception("checkpoint watcher: a listener failed on %r", event)


class DirectoryObserver:
    """The one observer of a checkpoint directory. It runs while at least one listener is
    subscribed (the mirror, the activity recorder), so a listener that stays on (the recorder
    after a "lose" stop of the mirror) keeps getting events. Thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fanout = _Fanout()
        self._observer: BaseObserver | None = None
        self._close_events = False
        self._lock = threading.Lock()

    @property
    def current(self) -> BaseObserver | None:
        """The running watchdog observer (None while nobody listens)."""
        return self._observer

    @property
    def close_events(self) -> bool:
        """True when it reports open and close events (inotify; False: polling)."""
        return self._close_events

    def subscribe(self, listener: FileSystemEventHandler) -> None:
        """Add ``listener``; the first one starts the observer (raises OSError if it cannot)."""
        with self._lock:
            if listener in self._fanout.listeners:
                return
            self._fanout.listeners = (*self._fanout.listeners, listener)
            if self._observer is None:
                try:
                    self._observer, self._close_events = _start_observer(self.root,
                                                                         self._fanout)
                except BaseException:
                    self._fanout.listeners = self._fanout.listeners[:-1]
                    raise

    def unsubscribe(self, listener: FileSystemEventHandler) -> None:
        """Remove ``listener``; the last one out stops the observer."""
        with self._lock:
            self._fanout.listeners = tuple(x for x in self._fanout.listeners if x is not listener)
            observer = self._observer if not self._fanout.listeners else None
            if observer is not None:
                self._observer = None
        if observer is not None:
            stop_watching(observer)

    def settle(self, quiet: float = 0.1, limit: float = 1.0) -> None:
        """Wait (at most `limit` s) until the events already queued have reached the
        listeners: nothing left in watchdog's queue and no change for `quiet` s. Called once
        the writer is gone: under load the events of its last moments (a temp file renamed into
        place just before it exited) reach us after its end, and would be missed. The mirror's
        own reads and marker files do not count as changes (is_writers_change)."""
        observer = self._observer
        if observer is None:
            return
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if (observer.event_queue.unfinished_tasks == 0
                    and time.monotonic() - self._fanout.last_change >= quiet):
                return
            time.sleep(0.02)

    def subscribed(self, listener: FileSystemEventHandler) -> bool:
        return listener in self._fanout.listeners

    def healthy(self) -> bool:
        observer = self._observer
        return observer is None or is_healthy(observer)

    def restart(self) -> None:
        """Watch afresh (new watches, right paths) for the same listeners. Raises OSError if no
        observer can be started (there is then none until the next restart)."""
        with self._lock:
            old, self._observer = self._observer, None
            if old is not None:
                stop_watching(old, timeout=1.0)
            if self._fanout.listeners:
                self._observer, self._close_events = _start_observer(self.root, self._fanout)
