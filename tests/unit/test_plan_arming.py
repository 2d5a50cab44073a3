"""Every trigger kind: parsing, options, tag encoding and when it fires (pure, no Docker)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from emulator.faults.arming import ArmedTrigger, PlanCursor
from emulator.faults.kinds import After, At, Checkpoint, CheckpointWrite, Log, Random, Start, Wait
from emulator.faults.plan import Trigger, load_plan_file, parse_plan, parse_trigger

TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")  # AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]*


@pytest.mark.parametrize(("text", "expected"), [
    ("after=30s", After(seconds=30)),
    ("at=2m", At(seconds=120)),
    ("checkpoint=3", Checkpoint(count=3)),
    ("checkpoint-write=2/hard", CheckpointWrite(count=2, hard=True)),
    ("log=epoch 3 .*done", Log(pattern="epoch 3 .*done")),
    ("random=60s:7", Random(seconds=60, seed=7)),
    ("start/capacity=10s", Start(capacity=10)),
    ("wait=1h", Wait(seconds=3600)),
    ("after=5s/grace=2s/capacity=1m", After(seconds=5, grace=2, capacity=60)),
    ("log=a/b/hard", Log(pattern="a/b", hard=True)),  # '/' inside a regex stays
])
def test_parse_and_spec_roundtrip(text: str, expected: Trigger) -> None:
    trigger = parse_trigger(text)
    assert trigger == expected
    assert parse_trigger(trigger.spec) == trigger


def test_grace_of_a_trigger() -> None:
    assert parse_trigger("after=1s").grace_period(120) == 120
    assert parse_trigger("after=1s/grace=5s").grace_period(120) == 5
    assert parse_trigger("after=1s/hard").grace_period(120) == 0


def test_plans_go_through_tags_even_with_regexes() -> None:
    simple = parse_plan(["after=5s", "checkpoint=2/hard"])
    assert simple.to_tag_value() == "after=5s checkpoint=2/hard"
    tricky = parse_plan([r"log=loss=(\d+\.\d+), step [0-9]+", "after=1s"])
    value = tricky.to_tag_value()
    assert TAG_VALUE.match(value) and len(value) <= 256
    assert parse_plan(value) == tricky


def test_random_is_reproducible_with_a_seed() -> None:
    trigger = parse_trigger("random=10s:42")
    delays = [trigger.random_delay(i) for i in range(5)]
    assert delays == [trigger.random_delay(i) for i in range(5)]
    assert len(set(delays)) == 5 and all(d > 0 for d in delays)
    assert parse_trigger("random=10s:43").random_delay(0) != delays[0]


def test_armed_trigger_decisions() -> None:
    assert ArmedTrigger(parse_trigger("after=5s"), 0).on_time(5.0, 0) is True
    assert ArmedTrigger(parse_trigger("after=5s"), 0).on_time(4.9, 100) is False
    assert ArmedTrigger(parse_trigger("at=60s"), 0).on_time(0, 60) is True
    checkpoint = ArmedTrigger(parse_trigger("checkpoint=2"), 0)
    assert [checkpoint.on_upload() for _ in range(3)] == [False, True, True]
    write = ArmedTrigger(parse_trigger("checkpoint-write=1"), 0)
    assert write.on_write_started() is True and write.on_upload() is False
    log = ArmedTrigger(parse_trigger("log=checkpoint saved at step 1[05]"), 0)
    assert log.on_log("checkpoint saved at step 15") and not log.on_log("step 15/40")


def test_cursor_walks_waits_and_interruptions() -> None:
    cursor = PlanCursor(parse_plan(["wait=10s", "after=5s", "start", "wait=1s", "wait=2s"]))
    assert [t.seconds for t in cursor.take_waits()] == [10]
    armed = cursor.armed()
    assert armed is not None and armed.trigger.kind == "after"
    cursor.consume()
    assert cursor.take_waits() == []
    armed = cursor.armed()
    assert armed is not None and armed.at_start
    cursor.consume()
    assert [t.seconds for t in cursor.take_waits()] == [1, 2]
    assert cursor.armed() is None and cursor.unfired == []


def test_plan_files_yaml_and_json(tmp_path: Path) -> None:
    yaml_file = tmp_path / "plan.yaml"
    yaml_file.write_text("interrupt:\n  - after=30s\n  - trigger: checkpoint=2\n"
                         "    hard: true\n    capacity: 10s\n")
    json_file = tmp_path / "plan.json"
    json_file.write_text('["after=30s", {"trigger": "checkpoint=2", "hard": true, '
                         '"capacity": "10s"}]')
    expected = parse_plan(["after=30s", "checkpoint=2/hard/capacity=10s"])
    assert load_plan_file(yaml_file) == expected
    assert load_plan_file(json_file) == expected
