"""The testing library's public names, as issue 14 promises them to users: importable from
`emulator.testing`, typed, documented, and the attributes a test reads."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import emulator.testing as smemu
from emulator.testing import AttemptResult, JobResult

PROMISED = ["Endpoint", "run_job", "JobResult", "assert_resumed", "assert_lost_at_most",
            "assert_no_overwrite_conflicts", "assert_completed_within",
            "assert_same_as_uninterrupted"]
ASSERTIONS = [name for name in PROMISED if name.startswith("assert_")]


def test_the_promised_names_are_exported_and_documented() -> None:
    for name in PROMISED:
        assert name in smemu.__all__, name
        assert inspect.getdoc(getattr(smemu, name)), f"{name} has no docstring"


def test_assertions_take_a_job_result_and_are_fully_typed() -> None:
    for name in ASSERTIONS:
        function = getattr(smemu, name)
        hints = typing.get_type_hints(function)
        parameters = list(inspect.signature(function).parameters)
        assert parameters[0] == "result" and hints["result"] is JobResult, name
        assert set(hints) == {*parameters, "return"} and hints["return"] is type(None), name


def test_run_job_is_fully_typed_and_returns_a_job_result() -> None:
    hints = typing.get_type_hints(smemu.run_job)
    assert hints["return"] is JobResult
    assert set(inspect.signature(smemu.run_job).parameters) <= {*hints, "options"}


def test_a_job_result_has_what_a_test_reads() -> None:
    attempts = [{"Attempt": 1, "Outcome": "interrupted", "Resume": "fresh-start",
                 "LostTrainingSeconds": 1.5, "Flags": [],
                 "CheckpointsUploaded": [{"path": "checkpoint.json", "size": 3,
                                          "sha256": "ab"}]},
                {"Attempt": 2, "Outcome": "completed", "Resume": "resumed",
                 "Flags": ["a flag"],
                 "CheckpointsRestored": [{"path": "checkpoint.json", "size": 3,
                                          "sha256": "ab"}]}]
    describe = {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed"}
    result = JobResult(typing.cast(typing.Any, None), describe, {"Attempts": attempts})

    assert (result.name, result.status, result.describe) == ("job-1", "Completed", describe)
    first, second = result.attempts
    assert (first.resume, second.resume) == ("fresh-start", "resumed")
    assert first.lost_seconds == 1.5 and second.flags == ("a flag",)
    assert [f.path for f in first.uploaded] == [f.path for f in second.restored] == [
        "checkpoint.json"]
    assert typing.get_type_hints(JobResult.logs)["return"] is str
    fields = {f.name for f in dataclasses.fields(AttemptResult)}
    assert {"resume", "lost_seconds", "flags", "restored", "uploaded"} <= fields
