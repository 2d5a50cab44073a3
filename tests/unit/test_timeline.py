from __future__ import annotations

from emulator.jobs.timeline import timeline


def test_timeline_orders_events_and_shows_lost_work() -> None:
    report = {"Attempts": [
        {"Attempt": 1, "StartedAt": 100.0, "TrainingStartedAt": 101.0,
         "CheckpointsRestored": [],
         "CheckpointsUploaded": [{"path": "c.json", "size": 29, "at": 103.0}],
         "InterruptedAt": 105.5, "Interruption": "after=4s", "LostTrainingSeconds": 2.5,
         "EndedAt": 106.0, "Outcome": "interrupted", "Resume": "fresh-start"},
        {"Attempt": 2, "StartedAt": 106.0, "TrainingStartedAt": 107.0,
         "CheckpointsRestored": [{"path": "c.json"}], "CheckpointsUploaded": [],
         "EndedAt": 110.0, "Outcome": "completed", "Resume": "resumed"},
    ]}
    lines = timeline(report)
    assert lines[0].startswith("+    0.0s  attempt 1: starting, 0 checkpoint")
    assert "+    3.0s  attempt 1: uploaded c.json (29 B)" in lines
    assert "+    5.5s  attempt 1: INTERRUPTED by after=4s, 2.5s of training lost (since the " \
           "newest checkpoint in S3)" in lines
    assert lines[-1] == "+   10.0s  attempt 2: ended completed (resumed)"
    assert timeline({}) == []


def test_a_stop_is_a_stop_not_an_interruption() -> None:
    report = {"Attempts": [
        {"Attempt": 1, "StartedAt": 100.0, "TrainingStartedAt": 101.0, "InterruptedAt": 104.0,
         "Interruption": None, "StoppedBy": "StopTrainingJob", "GracePeriodSeconds": 120.0,
         "LostTrainingSeconds": 3.0, "EndedAt": 105.0, "Outcome": "stopped"},
        {"Attempt": 2, "StartedAt": 106.0, "TrainingStartedAt": 107.0, "InterruptedAt": 110.0,
         "StoppedBy": "MaxRuntimeInSeconds", "GracePeriodSeconds": 0.0, "EndedAt": 110.5,
         "Outcome": "stopped"},
    ]}
    lines = timeline(report)
    assert "+    4.0s  attempt 1: STOPPED by StopTrainingJob (SIGTERM, 120s grace)" in lines
    assert "+   10.0s  attempt 2: STOPPED by MaxRuntimeInSeconds (SIGKILL)" in lines
    assert not any("INTERRUPTED" in line for line in lines)
