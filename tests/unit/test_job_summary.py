"""The job summary of `smemu run` / `smemu jobs describe` (pure rendering of Describe + report)."""

from __future__ import annotations

from typing import Any

import click

from emulator.cli.follow import render_summary


def job(status: str = "Completed", secondary: str = "Completed", **extra: Any) -> dict[str, Any]:
    return {"TrainingJobName": "j", "TrainingJobStatus": status, "SecondaryStatus": secondary,
            "EnableManagedSpotTraining": True, "TrainingTimeInSeconds": 10,
            "BillableTimeInSeconds": 3, **extra}


def attempt(number: int, ended: bool = True, verified: bool | None = True,
            outcome: str = "interrupted") -> dict[str, Any]:
    return {"Attempt": number, "StartedAt": 100.0 * number, "EndedAt": 100.0 * number + 50
            if ended else None, "Outcome": outcome if ended else None,
            "MirrorVerified": verified, "TrainingSeconds": 3.0}


THREE = {"Attempts": [attempt(1), attempt(2), attempt(3, outcome="completed")],
         "Interruptions": 2}


def plain(text: str) -> str:
    return click.unstyle(text)


def test_plain_describe_counts_every_attempt_without_the_table() -> None:
    text = plain(render_summary(job(), THREE, detail=False))
    assert "  Attempts: 3, interruptions: 2" in text
    assert "attempt  outcome" not in text and "timeline:" not in text


def test_detailed_summary_has_the_table_and_the_proof_for_every_attempt() -> None:
    text = plain(render_summary(job(), THREE))
    assert "  Attempts: 3, interruptions: 2" in text
    assert "attempt  outcome" in text and "timeline:" in text
    assert "S3 equals the checkpoint directory after every attempt" in text


def test_a_running_job_claims_the_proof_only_for_the_attempts_that_ended() -> None:
    report = {"Attempts": [attempt(1), attempt(2, ended=False, verified=None)],
              "Interruptions": 1}
    text = plain(render_summary(job("InProgress", "Training"), report))
    assert "after every attempt" not in text
    assert ("S3 equals the checkpoint directory after every ended attempt (1 of 2; the last "
            "is still running)") in text


def test_no_model_line_without_model_artifacts() -> None:
    stopped = job("Stopped", "MaxWaitTimeExceeded")
    report = {"Attempts": [attempt(1, verified=None, outcome="never-launched")]}
    assert "Model:" not in plain(render_summary(stopped, report))
    uri = "s3://b/output/j/output/model.tar.gz"
    with_model = job(ModelArtifacts={"S3ModelArtifacts": uri})
    assert f"  Model: {uri}" in plain(render_summary(with_model, report))
