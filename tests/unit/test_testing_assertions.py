"""The assertion helpers' verdicts and messages, on results built from report documents."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, cast

import pytest

from emulator.testing import (
    JobResult,
    assert_completed_within,
    assert_lost_at_most,
    assert_no_overwrite_conflicts,
    assert_resumed,
    assert_same_as_uninterrupted,
    compare_runs,
)


class _Result(JobResult):
    """A JobResult whose model comes from memory instead of the endpoint's S3."""

    def __init__(self, attempts: list[dict[str, Any]], *, status: str = "Completed",
                 model: dict[str, bytes] | None = None, metrics: dict[str, float] | None = None,
                 unfired: list[str] | None = None, took: float = 10.0, **describe: Any) -> None:
        start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
        super().__init__(cast(Any, None), {
            "TrainingJobName": "job", "TrainingJobStatus": status,
            "SecondaryStatus": status, "CreationTime": start,
            "TrainingEndTime": datetime.fromtimestamp(start.timestamp() + took, timezone.utc),
            "FinalMetricDataList": [{"MetricName": k, "Value": v}
                                    for k, v in (metrics or {}).items()], **describe,
        }, {"Attempts": attempts, "UnfiredTriggers": unfired or []})
        self.model = model or {}

    def model_files(self) -> dict[str, bytes]:
        return self.model


def attempt(number: int, outcome: str, resume: str = "fresh-start", **fields: Any) -> dict[
        str, Any]:
    return {"Attempt": number, "Outcome": outcome, "Resume": resume, **fields}


CHECKPOINT = {"path": "checkpoint.json", "size": 20, "sha256": "ab", "at": 5.0}


def test_resumed_passes_when_every_attempt_after_an_interruption_read_its_checkpoint() -> None:
    assert_resumed(_Result([
        attempt(1, "interrupted", CheckpointsUploaded=[CHECKPOINT]),
        attempt(2, "interrupted", "resumed", CheckpointsRestored=[CHECKPOINT]),
        attempt(3, "completed", "resumed", CheckpointsRestored=[CHECKPOINT]),
    ]))


def test_resumed_names_the_attempt_and_the_file_it_never_read() -> None:
    result = _Result([attempt(1, "interrupted", CheckpointsUploaded=[CHECKPOINT]),
                      attempt(2, "completed", "restarted-from-scratch",
                              CheckpointsRestored=[CHECKPOINT])])
    with pytest.raises(AssertionError, match=r"^job: attempt 2 restarted from scratch: it "
                                             r"never read the restored checkpoint\.json \("):
        assert_resumed(result)


def test_resumed_says_when_nothing_was_there_to_restore() -> None:
    with pytest.raises(AssertionError, match="attempt 2 started fresh: nothing was restored, "
                                             "because attempt 1 uploaded no checkpoint"):
        assert_resumed(_Result([attempt(1, "interrupted"), attempt(2, "completed")]))


def test_resumed_refuses_a_job_that_was_never_interrupted() -> None:
    with pytest.raises(AssertionError, match="job was never interrupted, so there is nothing to "
                                             "check: its plan's triggers never fired: "
                                             "checkpoint=9"):
        assert_resumed(_Result([attempt(1, "completed")], unfired=["checkpoint=9"]))
    with pytest.raises(AssertionError, match="it had no interruption plan"):
        assert_lost_at_most(_Result([attempt(1, "completed")]), 10)


def test_resumed_on_several_hosts_is_one_host_reading_or_says_which_did_not() -> None:
    def hosts(*verdicts: str) -> list[dict[str, Any]]:
        return [{"Attempt": 2, "Host": f"algo-{n}", "Resume": v,
                 "CheckpointsRestored": [CHECKPOINT]} for n, v in enumerate(verdicts, 1)]

    first = attempt(1, "interrupted", CheckpointsUploaded=[CHECKPOINT])
    assert_resumed(_Result([first, attempt(2, "completed", "resumed",
                                           Hosts=hosts("resumed", "restarted-from-scratch"))]))
    with pytest.raises(AssertionError, match="attempt 2 on algo-1 restarted from scratch"):
        assert_resumed(_Result([first, attempt(2, "completed", "restarted-from-scratch",
                                               Hosts=hosts("restarted-from-scratch",
                                                           "restarted-from-scratch"))]))


def test_lost_at_most_says_how_much_and_since_when() -> None:
    result = _Result([attempt(1, "interrupted", LostTrainingSeconds=42.0, LastUploadAt=3.0,
                              Interruption="after=50s"), attempt(2, "completed", "resumed")])
    assert_lost_at_most(result, 42)
    with pytest.raises(AssertionError, match=r"attempt 1 lost 42\.0s of training to its "
                                             r"interruption \(after=50s\), more than the 30s "
                                             r"allowed: its last checkpoint upload came 42\.0s "
                                             r"before it\. Checkpoint more often"):
        assert_lost_at_most(result, 30)
    never = _Result([attempt(1, "interrupted", LostTrainingSeconds=8.0),
                     attempt(2, "completed")])
    with pytest.raises(AssertionError, match="it uploaded no checkpoint before the "
                                             "interruption"):
        assert_lost_at_most(never, 5)


def test_no_overwrite_conflicts_lists_them() -> None:
    assert_no_overwrite_conflicts(_Result([attempt(1, "completed", OverwriteConflicts=[])]))
    conflict = ("checkpoint.json written by algo-1 and algo-2 to the same S3 key (the last "
                "upload wins; name checkpoint files per host, e.g. by SM_CURRENT_HOST)")
    with pytest.raises(AssertionError, match=r"^job: attempt 1: checkpoint\.json written by "
                                             r"algo-1 and algo-2"):
        assert_no_overwrite_conflicts(_Result([attempt(1, "completed",
                                                       OverwriteConflicts=[conflict])]))


def test_completed_within_needs_completion_and_the_time() -> None:
    done = _Result([attempt(1, "interrupted", LostTrainingSeconds=4.0),
                    attempt(2, "completed", "resumed")], took=95.5)
    assert_completed_within(done, 96)
    with pytest.raises(AssertionError, match=r"job took 95\.5s from creation to end, more than "
                                             r"90s: 2 attempt\(s\), 1 interruption\(s\), 4\.0s"):
        assert_completed_within(done, 90)
    failed = _Result([attempt(1, "failed")], status="Failed",
                     FailureReason="AlgorithmError: boom")
    with pytest.raises(AssertionError, match=r"job ended Failed \(Failed\) instead of "
                                             r"Completed: AlgorithmError: boom"):
        assert_completed_within(failed, 1000)


def test_same_as_uninterrupted_compares_model_files_and_metrics() -> None:
    def run(model: dict[str, bytes], **metrics: float) -> _Result:
        return _Result([attempt(1, "completed")], model=model, metrics=metrics)

    result = run({"model.json": b"1", "extra.bin": b"x"}, loss=0.25)
    with pytest.raises(AssertionError, match=r"compare_uninterrupted=True"):
        assert_same_as_uninterrupted(result)
    result.uninterrupted = run({"model.json": b"1", "extra.bin": b"x"}, loss=0.25)
    assert_same_as_uninterrupted(result)
    assert compare_runs(result, result.uninterrupted).describe() == "identical"

    result.uninterrupted = run({"model.json": b"2", "other.bin": b"y"}, loss=0.5, acc=1.0)
    comparison = compare_runs(result, result.uninterrupted)
    assert not comparison.identical
    assert comparison.differing_files[0].startswith("model.json (sha256 ")
    assert comparison.missing_files == ("extra.bin: only in the interrupted run's model",
                                        "other.bin: only in the uninterrupted run's model")
    assert comparison.differing_metrics == (
        "metric acc: only the uninterrupted run reported it",
        "metric loss: 0.25 vs 0.5 uninterrupted (differs by -0.25)")
    with pytest.raises(AssertionError, match=r"trained a different model than the "
                                             r"uninterrupted job:\nmodel\.json \(sha256"):
        assert_same_as_uninterrupted(result)
    result.uninterrupted = _Result([attempt(1, "failed")], status="Failed")
    with pytest.raises(AssertionError, match="cannot compare models: job ended Failed"):
        assert_same_as_uninterrupted(result)
