"""Job history in SQLite (the standard library's sqlite3, WAL) in the state directory.

Each job is one row: its history as `jobs.history.dump_job` writes it (request, statuses,
transitions, attempts with their log-stream names, tags, report fields), the interruption
triggers that never fired, and the endpoint process that ran it (its server id and pid, which
crash recovery reads). The job's container output is kept too (`log_events`), so `smemu logs`
of a job from an earlier endpoint run still prints it. The schema is versioned: MIGRATIONS
is a list, applied in order, and the `schema_version` table says how many have been applied.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.errors import EmulatorError
from emulator.jobs.history import HistoryFormatError, dump_job, load_job
from emulator.jobs.model import TrainingJob
from emulator.jobs.store import InMemoryJobStore

log = logging.getLogger(__name__)

Migration = Callable[[sqlite3.Connection], None]


def _create_jobs(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE jobs (
        name_key TEXT PRIMARY KEY,  -- lower case: AWS compares job names case-insensitively
        name TEXT NOT NULL,
        status TEXT NOT NULL,
        creation_time REAL NOT NULL,
        server_id TEXT NOT NULL,  -- the endpoint process that ran it
        pid INTEGER NOT NULL,
        unfired TEXT NOT NULL,  -- JSON list of trigger specs
        history TEXT NOT NULL  -- JSON, jobs.history.dump_job
    )""")


def _create_log_events(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE log_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        log_group TEXT NOT NULL,
        stream TEXT NOT NULL,
        timestamp INTEGER NOT NULL,  -- ms since the epoch, as CloudWatch Logs
        message TEXT NOT NULL
    )""")
    db.execute("CREATE INDEX log_events_stream ON log_events (log_group, stream, id)")


# Append only: a released schema's migrations never change, a new schema is a new entry.
MIGRATIONS: list[Migration] = [_create_jobs, _create_log_events]


class HistoryDbError(EmulatorError):
    """The job history database cannot be used (newer schema, unreadable file)."""


@dataclass
class StoredJob:
    job: TrainingJob
    server_id: str
    pid: int
    unfired: list[str]


@dataclass(frozen=True)
class LogEvent:
    group: str
    stream: str
    timestamp: int
    message: str


class JobHistoryDb:
    """One SQLite file; safe to share between threads (one connection, one lock). One
    endpoint at a time owns it (an flock on `<file>.lock`, released when its process dies)."""

    def __init__(self, path: Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _take_ownership(path.with_name(path.name + ".lock"))
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except BaseException:
            os.close(self._owner)
            raise
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a crash
            self._migrate(migrations)
        except BaseException:
            self._db.close()
            os.close(self._owner)
            raise

    @property
    def schema_version(self) -> int:
        with self._lock:
            return _version(self._db)

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        with self._lock:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)")
            version = _version(self._db)
            if version > len(migrations):
                raise HistoryDbError(
                    f"{self.path} has job history schema version {version}, newer than this "
                    f"smemu reads ({len(migrations)}): upgrade smemu, or use another state "
                    "directory (SMEMU_STATE_DIR) or --ephemeral")
            for number, migration in enumerate(migrations[version:], start=version + 1):
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    migration(self._db)
                    self._db.execute("DELETE FROM schema_version")
                    self._db.execute("INSERT INTO schema_version VALUES (?)", (number,))
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise

    # -- jobs ---------------------------------------------------------------------
    def save(self, job: TrainingJob, *, server_id: str, unfired: Sequence[str] = (),
             pid: int | None = None) -> None:
        history = json.dumps(_dump(job))
        row = (job.name.lower(), job.name, job.status.value, job.creation_time, server_id,
               os.getpid() if pid is None else pid, json.dumps(list(unfired)), history)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                streams = [r[0] for r in self._db.execute(
                    "SELECT DISTINCT stream FROM log_events WHERE stream LIKE ? ESCAPE '\\'",
                    (_like_prefix(name),))]
                self._db.execute("DELETE FROM jobs WHERE name_key = ?", (name.lower(),))
                self._db.executemany("DELETE FROM log_events WHERE stream = ?",
                                     [(s,) for s in streams if s.split("/", 1)[0].lower()
                                      == name.lower()])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load(self) -> list[StoredJob]:
        """Every job it can read, oldest first; an unreadable one is logged and skipped."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, server_id, pid, unfired, history FROM jobs "
                "ORDER BY creation_time").fetchall()
        jobs = []
        for name, server_id, pid, unfired, history in rows:
            try:
                job = load_job(json.loads(history))
            except (HistoryFormatError, ValueError) as err:
                log.warning("job %s in %s left out: %s", name, self.path, err)
                continue
            jobs.append(StoredJob(job, server_id, int(pid), list(json.loads(unfired))))
        return jobs

    # -- container output -------------------------------------------------------------
    def add_log_events(self, group: str, stream: str, events: Sequence[dict[str, Any]]) -> None:
        rows = [(group, stream, int(e["timestamp"]), str(e["message"])) for e in events]
        with self._lock:
            self._db.executemany("INSERT INTO log_events (log_group, stream, timestamp, message)"
                                 " VALUES (?, ?, ?, ?)", rows)

    def log_events(self) -> Iterator[LogEvent]:
        with self._lock:
            rows = self._db.execute("SELECT log_group, stream, timestamp, message "
                                    "FROM log_events ORDER BY id").fetchall()
        for row in rows:
            yield LogEvent(*row)

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._owner >= 0:
                os.close(self._owner)  # releases the flock
                self._owner = -1


class SqliteJobStore(InMemoryJobStore):
    """The JobStore of an endpoint with a state directory: jobs are served from memory and
    written through to SQLite on every change (`save`), so a later endpoint reads them back."""

    def __init__(self, db: JobHistoryDb, server_id: str) -> None:
        super().__init__()
        self.db = db
        self.server_id = server_id

    def add(self, job: TrainingJob) -> None:
        super().add(job)
        self.save(job)

    def adopt(self, job: TrainingJob) -> None:
        """A job read back from the database: served again, not written."""
        super().add(job)

    def save(self, job: TrainingJob, unfired: Sequence[str] = ()) -> None:
        try:
            self.db.save(job, server_id=self.server_id, unfired=unfired)
        except sqlite3.Error:  # the history is a record; never the reason a job fails
            log.exception("cannot save job %s to %s", job.name, self.db.path)

    def remove(self, name: str) -> None:
        super().remove(name)
        self.db.delete(name)


def _take_ownership(lock_path: Path) -> int:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise HistoryDbError(
            f"another smemu endpoint is using the job history {lock_path.with_suffix('')}: "
            "stop it, or give this one another port, state directory (SMEMU_STATE_DIR) or "
            "--ephemeral") from None
    return fd


def _version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def _dump(job: TrainingJob) -> dict[str, Any]:
    # A runner thread may append to the job's lists while it is read: read again.
    for _ in range(3):
        try:
            return dump_job(job)
        except RuntimeError:
            continue
    return dump_job(job)


def _like_prefix(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}/%"
