"""What a training script does in its checkpoint directory, seen through inotify.

The events come from the directory's one observer (``DirectoryObserver``), shared with the
mirror: the recorder is one more listener of it.

Records, per relative path: reads of existing files, writes in place, files renamed into place.
These are the generic resume signals: a restarted attempt that never opens the restored files did
not resume from them; a checkpoint closed under its final name was written non-atomically.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from emulator.checkpoints.observer import DirectoryObserver
from emulator.checkpoints.sagemaker_names import is_marker

WriteStarted = Callable[[str, int], None]  # (relative path, how many writes have started so far)


@dataclass
class Activity:
    """The record of one watch (one attempt)."""

    reads: dict[str, float] = field(default_factory=dict)  # path -> first read time
    in_place_writes: dict[str, float] = field(default_factory=dict)  # closed under final name
    renamed_in: dict[str, float] = field(default_factory=dict)  # path -> last rename time
    renamed_away: dict[str, float] = field(default_factory=dict)  # temp files: rename sources
    first_written: dict[str, float] = field(default_factory=dict)  # first new content
    last_closed: dict[str, float] = field(default_factory=dict)  # last close after writing
    writes_started: int = 0


class _Handler(FileSystemEventHandler):
    def __init__(self, root: str, recorder: ActivityRecorder) -> None:
        self.root = root
        self.recorder = recorder

    def _rel(self, raw: bytes | str) -> str | None:
        if not raw:  # a move from or to outside the tree (full move events)
            return None
        path = os.fsdecode(raw)
        rel = os.path.relpath(path, self.root)
        if rel.startswith("..") or is_marker(rel):
            return None
        return rel.replace(os.sep, "/")

    def dispatch(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        rel = self._rel(event.src_path)
        now = time.time()
        rec = self.recorder
        with rec.lock:
            if rec.paused or rel is None:
                return
            act = rec.activity
            if isinstance(event, FileOpenedEvent):
                rec.opened.add(rel)
            elif isinstance(event, FileClosedNoWriteEvent):
                if rel in rec.opened and rel not in rec.writing:
                    act.reads.setdefault(rel, now)
                rec.opened.discard(rel)
            elif isinstance(event, FileModifiedEvent):
                if rel not in rec.writing:
                    rec.writing.add(rel)
                    act.writes_started += 1
                    callback, count = rec.on_write_started, act.writes_started
                    if callback is not None:
                        threading.Thread(target=callback, args=(rel, count), daemon=True).start()
            elif isinstance(event, FileClosedEvent):
                rec.writing.discard(rel)
                rec.opened.discard(rel)
                act.in_place_writes[rel] = now
                act.first_written.setdefault(rel, now)
                act.last_closed[rel] = now
            elif isinstance(event, FileMovedEvent):
                if not event.dest_path:
                    return  # moved out of the tree: seen as a deletion, which is not recorded
                dest = self._rel(event.dest_path)
                act.in_place_writes.pop(rel, None)  # a temp file, renamed into place
                act.renamed_away[rel] = now
                rec.writing.discard(rel)
                if dest is not None:
                    act.renamed_in[dest] = now
                    act.first_written.setdefault(dest, now)
                    act.in_place_writes.pop(dest, None)


class ActivityRecorder:
    """Context manager: records checkpoint-directory activity until stopped, as a listener of
    the directory's observer (the mirror's). Open and close events need inotify: with the
    polling fallback nothing is read or closed, as far as it can tell."""

    def __init__(self, observer: DirectoryObserver,
                 on_write_started: WriteStarted | None = None) -> None:
        self.root: Path = observer.root
        self.on_write_started = on_write_started
        self.activity = Activity()
        self.lock = threading.Lock()
        self.opened: set[str] = set()
        self.writing: set[str] = set()
        self.paused = False
        self._observer: DirectoryObserver | None = observer
        self._handler = _Handler(str(self.root), self)

    def start(self) -> ActivityRecorder:
        if self._observer is not None:
            self._observer.subscribe(self._handler)
        return self

    def writing_now(self) -> set[str]:
        """Files written to and not yet closed: torn if the writer dies now."""
        with self.lock:
            return set(self.writing)

    def stop(self) -> Activity:
        """Stop recording (idempotent), once the events already queued are in; later events,
        e.g. the mirror's own reads, are ignored."""
        if self._observer is not None and not self.paused:
            self._observer.settle()
        with self.lock:
            self.paused = True
        if self._observer is not None:
            self._observer.unsubscribe(self._handler)
            self._observer = None
        return self.activity

    def __enter__(self) -> ActivityRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
