"""A job's history serialises both ways: record -> JSON-safe dict -> record, property-based."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.contract import JobStatus, SecondaryStatus
from emulator.faults.kinds import KINDS
from emulator.faults.plan import InterruptionPlan, parse_plan
from emulator.faults.s3_spec import parse_s3_faults
from emulator.jobs.history import SCHEMA_VERSION, HistoryFormatError, dump_job, load_job
from emulator.jobs.model import Attempt, Outcome, TrainingJob
from emulator.jobs.settings import CheckpointFlush, JobSettings
from emulator.jobs.spec import parse_spec

FINITE = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(max_size=12)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), FINITE, TEXT)


def strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type hint, as the history's dataclasses declare them."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return st.one_of(st.none(), strategy_for(inner))
    if origin is list:
        return st.lists(strategy_for(args[0]), max_size=3)
    if origin is tuple:
        return st.lists(strategy_for(args[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(TEXT, strategy_for(args[1]), max_size=3)
    if hint is Any:
        return SCALARS
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return instances(hint)
    return {float: FINITE, int: st.integers(), str: TEXT, bool: st.booleans()}[hint]


def instances(cls: type, **overrides: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: overrides[f.name] if f.name in overrides
                             else strategy_for(hints[f.name]) for f in dataclasses.fields(cls)})


def _channel() -> st.SearchStrategy[dict[str, Any]]:
    source = st.fixed_dictionaries({"S3Uri": TEXT}, optional={
        "S3DataType": st.sampled_from(["S3Prefix", "ManifestFile"]),
        "S3DataDistributionType": st.sampled_from(["FullyReplicated", "ShardedByS3Key"])})
    return st.fixed_dictionaries(
        {"ChannelName": TEXT, "DataSource": st.fixed_dictionaries({"S3DataSource": source})},
        optional={"InputMode": st.sampled_from(["File", "FastFile"]), "ContentType": TEXT,
                  "RecordWrapperType": st.sampled_from(["None", "RecordIO"])})


REQUESTS = st.fixed_dictionaries({
    "TrainingJobName": TEXT.filter(bool),
    "AlgorithmSpecification": st.fixed_dictionaries(
        {"TrainingImage": TEXT, "TrainingInputMode": st.sampled_from(["File", "FastFile"])},
        optional={"ContainerEntrypoint": st.lists(TEXT, max_size=3).map(tuple),
                  "ContainerArguments": st.lists(TEXT, max_size=3),
                  "MetricDefinitions": st.lists(st.fixed_dictionaries(
                      {"Name": TEXT, "Regex": TEXT}), max_size=2)}),
    "OutputDataConfig": st.fixed_dictionaries({"S3OutputPath": TEXT}),
    "ResourceConfig": st.fixed_dictionaries({
        "InstanceType": TEXT, "InstanceCount": st.integers(1, 16),
        "VolumeSizeInGB": st.integers(1, 512)}),
    "StoppingCondition": st.fixed_dictionaries(
        {"MaxRuntimeInSeconds": st.integers(1, 10**6)},
        optional={"MaxWaitTimeInSeconds": st.integers(1, 10**6)}),
}, optional={
    "EnableManagedSpotTraining": st.booleans(),
    "EnableNetworkIsolation": st.booleans(),
    "CheckpointConfig": st.fixed_dictionaries({"S3Uri": TEXT}, optional={"LocalPath": TEXT}),
    "InputDataConfig": st.lists(_channel(), max_size=3),
    "HyperParameters": st.dictionaries(TEXT, TEXT, max_size=3),
    "Environment": st.dictionaries(TEXT, TEXT, max_size=3),
    "Tags": st.lists(st.fixed_dictionaries({"Key": TEXT, "Value": TEXT}), max_size=2),
})
TRIGGERS = [kind.example for kind in KINDS.values()] + [
    "after=5s/grace=3s", "checkpoint=2/hard", "log=a/b/capacity=1m", "random=3s"]
PLANS = st.lists(st.sampled_from(TRIGGERS), max_size=4).map(parse_plan)
S3_FAULTS = st.lists(st.sampled_from(["errors=20%", "seed=7", "latency=200ms", "outage=30s+10s",
                                      "bandwidth=20MiB/s", "scope=all"]),
                     unique=True, max_size=4).map(lambda items: parse_s3_faults(" ".join(items)))
SETTINGS = instances(JobSettings, plan=PLANS, spot_price_ratio=st.floats(0, 1),
                     s3_faults=S3_FAULTS)
SPECS = st.builds(parse_spec, REQUESTS, SETTINGS)
HOST_VIEWS = st.lists(instances(Attempt, hosts=st.just([])), max_size=2)
JOBS = instances(TrainingJob, spec=SPECS,
                 attempts=st.lists(instances(Attempt, hosts=HOST_VIEWS), max_size=3))


def through_json(data: dict[str, Any]) -> dict[str, Any]:
    """What a store gives back: strict JSON (no NaN, no tuples kept as tuples)."""
    loaded: dict[str, Any] = json.loads(json.dumps(data, allow_nan=False))
    return loaded


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
          deadline=None)
@given(JOBS)
def test_a_job_history_round_trips_through_json(job: TrainingJob) -> None:
    data = dump_job(job)
    assert through_json(data) == data  # JSON-safe: nothing changes on the way
    assert data["schema_version"] == SCHEMA_VERSION
    assert load_job(through_json(data)) == job


def test_a_round_trip_keeps_what_every_report_reads() -> None:
    """An example that reads: the enums, the spec and the nested host views come back."""
    spec = parse_spec({"TrainingJobName": "j", "EnableManagedSpotTraining": True,
                       "CheckpointConfig": {"S3Uri": "s3://b/c"}},
                      JobSettings(parse_plan("after=5s/grace=3s log=a/b"), 7.0,
                                  CheckpointFlush.LOSE, 0.5, False))
    host = Attempt(1, 2.0, host="algo-2", outcome=Outcome.INTERRUPTED, oom_killed=True)
    job = TrainingJob(spec, "arn", 1.0, status=JobStatus.STOPPED,
                      secondary_status=SecondaryStatus.MAX_WAIT_TIME_EXCEEDED,
                      attempts=[Attempt(1, 2.0, outcome=Outcome.NEVER_LAUNCHED, hosts=[host])])
    data = through_json(dump_job(job))
    assert data["status"] == "Stopped" and data["attempts"][0]["outcome"] == "never-launched"
    assert data["spec"]["settings"]["checkpoint_flush"] == "lose"
    back = load_job(data)
    assert back == job
    assert back.status is JobStatus.STOPPED
    assert back.attempts[0].hosts[0].outcome is Outcome.INTERRUPTED
    assert back.attempts[0].hosts[0].oom_killed
    assert back.spec.settings.plan == job.spec.settings.plan != InterruptionPlan()
    assert back.spec.checkpoint_uri == "s3://b/c" and back.is_spot


def test_another_schema_version_or_a_broken_record_is_refused() -> None:
    data = through_json(dump_job(TrainingJob(parse_spec({"TrainingJobName": "j"}), "arn", 0.0)))
    with pytest.raises(HistoryFormatError, match="schema version 0 is not 1"):
        load_job({**data, "schema_version": 0})
    with pytest.raises(HistoryFormatError, match="schema version None"):
        load_job({k: v for k, v in data.items() if k != "schema_version"})
    with pytest.raises(HistoryFormatError, match="unreadable"):
        load_job({k: v for k, v in data.items() if k != "arn"})
    with pytest.raises(HistoryFormatError, match="unreadable"):
        load_job({**data, "status": "Sleeping"})


def test_reports_carry_wire_strings_not_enum_members() -> None:
    attempt = Attempt(1, 0.0, outcome=Outcome.COMPLETED,
                      hosts=[Attempt(1, 0.0, host="algo-1")]).to_dict()
    assert type(attempt["Outcome"]) is str and attempt["Outcome"] == "completed"
    assert type(attempt["Hosts"][0]["Outcome"]) is str
    assert attempt["OomKilled"] is False
