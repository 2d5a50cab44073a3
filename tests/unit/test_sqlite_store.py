"""The job history in SQLite: every change written, read back by a later endpoint, migrated."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from emulator import contract
from emulator.contract import JobStatus, SecondaryStatus
from emulator.errors import ValidationException
from emulator.jobs.clock import SystemClock
from emulator.jobs.history import dump_job
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import CheckpointFile, TrainingJob
from emulator.jobs.runner import RunnerContext
from emulator.jobs.service import JobService
from emulator.jobs.spec import parse_spec
from emulator.jobs.sqlite_store import (
    MIGRATIONS,
    HistoryDbError,
    JobHistoryDb,
    SqliteJobStore,
)

TAGS = [{"Key": "team", "Value": "ml"}]


def new_job(name: str = "kept") -> TrainingJob:
    spec = parse_spec({"TrainingJobName": name, "RoleArn": "r",
                       "EnableManagedSpotTraining": True,
                       "Tags": [{"Key": "smemu:interrupt", "Value": "after=5s after=9s"}]})
    return TrainingJob(spec, contract.training_job_arn(name), 1.0, tags=list(TAGS))


def stored_job(tmp_path: Path, *, finish: bool = True) -> tuple[SqliteJobStore, TrainingJob]:
    """A job run through the lifecycle with a SQLite store saving it: Training, or Completed."""
    store = SqliteJobStore(JobHistoryDb(tmp_path / "jobs.sqlite3"), "first")
    job = new_job()
    store.add(job)
    lifecycle = JobLifecycle(job, SystemClock(), on_change=store.save)
    lifecycle.created()
    attempt = lifecycle.attempt_starting()
    lifecycle.downloading()
    lifecycle.training()
    if finish:
        attempt.log_stream = f"{job.name}/algo-1-1"
        attempt.uploaded.append(CheckpointFile("model.pt", 3, "abc", 2.0))
        lifecycle.container_ended(0)
        lifecycle.uploading()
        lifecycle.completed()
    return store, job


def service_on(store: SqliteJobStore, tmp_path: Path) -> JobService:
    ctx = SimpleNamespace(workdir=tmp_path, server_id="unit", region="us-east-1")
    return JobService(cast(RunnerContext, ctx), store=store)


def test_every_lifecycle_event_is_written_and_read_back(tmp_path: Path) -> None:
    store, job = stored_job(tmp_path)
    store.db.close()

    again = JobHistoryDb(tmp_path / "jobs.sqlite3")
    (stored,) = again.load()
    assert dump_job(stored.job) == dump_job(job)
    assert stored.job.status == JobStatus.COMPLETED
    assert [t.status for t in stored.job.transitions][-1] == SecondaryStatus.COMPLETED
    assert stored.job.attempts[0].log_stream == "kept/algo-1-1"
    assert stored.job.tags == TAGS
    assert stored.server_id == "first"


def test_the_history_is_written_as_it_happens_not_only_at_the_end(tmp_path: Path) -> None:
    stored_job(tmp_path, finish=False)
    # A second connection (another process, after a crash) sees the job Training.
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as other:
        (history,) = other.execute("SELECT history FROM jobs").fetchone()
    assert json.loads(history)["secondary_status"] == "Training"
    assert len(json.loads(history)["attempts"]) == 1


def test_an_adopted_job_answers_describe_list_report_and_tags(tmp_path: Path) -> None:
    store, job = stored_job(tmp_path)
    store.save(job, ["after=9s"])
    store.db.close()

    db = JobHistoryDb(tmp_path / "jobs.sqlite3")
    store = SqliteJobStore(db, "second")
    service = service_on(store, tmp_path)
    for stored in db.load():
        service.adopt(stored.job, stored.unfired)
    described = service.describe_training_job({"TrainingJobName": "kept"})
    assert described["TrainingJobStatus"] == "Completed"
    assert described["EnableManagedSpotTraining"] is True
    names = [s["TrainingJobName"] for s in service.list_training_jobs({})["TrainingJobSummaries"]]
    assert names == ["kept"]
    assert service.emulator_report("kept")["UnfiredTriggers"] == ["after=9s"]
    with pytest.raises(ValidationException, match="in status Completed"):
        service.stop_training_job({"TrainingJobName": "kept"})
    service.wait("kept")  # over already: returns at once
    arn = contract.training_job_arn("kept")
    service.add_tags({"ResourceArn": arn, "Tags": [{"Key": "more", "Value": "x"}]})
    service.delete_tags({"ResourceArn": arn, "TagKeys": ["team"]})
    assert db.load()[0].job.tags == [{"Key": "more", "Value": "x"}]
    service.delete_training_job({"TrainingJobName": "kept"})
    assert db.load() == []


def test_log_events_are_kept_and_go_with_their_job(tmp_path: Path) -> None:
    db = JobHistoryDb(tmp_path / "jobs.sqlite3")
    db.save(new_job("a_b"), server_id="s")
    db.save(new_job("aXb"), server_id="s")
    db.add_log_events(contract.LOG_GROUP, "a_b/algo-1-1", [{"timestamp": 1, "message": "one"}])
    db.add_log_events(contract.LOG_GROUP, "aXb/algo-1-1", [{"timestamp": 2, "message": "two"}])
    assert [e.message for e in db.log_events()] == ["one", "two"]
    db.delete("a_b")  # LIKE's "_" matches any character: the other job keeps its lines
    assert [(e.stream, e.message) for e in db.log_events()] == [("aXb/algo-1-1", "two")]


def test_an_old_schema_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    old = JobHistoryDb(path, migrations=MIGRATIONS[:1])
    assert old.schema_version == 1
    old.save(new_job(), server_id="s")
    old.close()
    db = JobHistoryDb(path)
    assert db.schema_version == len(MIGRATIONS)
    assert [s.job.name for s in db.load()] == ["kept"]
    db.add_log_events(contract.LOG_GROUP, "kept/algo-1-1", [{"timestamp": 1, "message": "x"}])


def test_a_newer_schema_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobHistoryDb(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(HistoryDbError, match="schema version 99, newer"):
        JobHistoryDb(path)


def test_one_endpoint_at_a_time_owns_a_history(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    first = JobHistoryDb(path)
    with pytest.raises(HistoryDbError, match="another smemu endpoint"):
        JobHistoryDb(path)
    first.close()
    JobHistoryDb(path).close()


def test_an_unreadable_job_is_left_out_not_fatal(tmp_path: Path) -> None:
    db = JobHistoryDb(tmp_path / "jobs.sqlite3")
    db.save(new_job("good"), server_id="s")
    db.save(new_job("bad"), server_id="s")
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as raw:
        raw.execute("UPDATE jobs SET history = '{\"schema_version\": 0}' WHERE name = 'bad'")
    assert [s.job.name for s in db.load()] == ["good"]


def test_saves_from_many_threads_all_land(tmp_path: Path) -> None:
    db = JobHistoryDb(tmp_path / "jobs.sqlite3")
    threads = [threading.Thread(target=db.save, args=(new_job(f"j{i}"),),
                                kwargs={"server_id": "s"}) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(s.job.name for s in db.load()) == sorted(f"j{i}" for i in range(16))
    with sqlite3.connect(tmp_path / "jobs.sqlite3") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
