from __future__ import annotations

import pytest

from emulator.errors import PlanError, ValidationException
from emulator.faults.plan import parse_duration, parse_plan
from emulator.jobs.settings import JobSettings, settings_from_tags


@pytest.mark.parametrize(("text", "seconds"), [
    ("30s", 30), ("2m", 120), ("1h", 3600), ("500ms", 0.5), ("7", 7), ("1.5s", 1.5),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "s", "-1s", "10 days", "1e3"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(PlanError):
        parse_duration(text)


def test_plan_spec_roundtrip() -> None:
    plan = parse_plan(["after=5s", "after=1m"])
    assert [t.seconds for t in plan.triggers] == [5, 60]
    assert plan.spec == "after=5s after=60s"
    assert parse_plan(plan.spec) == plan


def test_bad_trigger_names_the_syntax() -> None:
    with pytest.raises(PlanError, match="after=DURATION"):
        parse_plan("whenever=5s")
    for bad in ("checkpoint=0", "log=(", "random=5s:x", "start=3", "after", "after=5s/grace"):
        with pytest.raises(PlanError):
            parse_plan([bad])


def test_settings_roundtrip_through_tags_that_fit_the_tag_pattern() -> None:
    import re

    settings = JobSettings(parse_plan("after=5s after=3s"), 10.0, "lose", 0.25)
    tags = settings.to_tags()
    pattern = re.compile(r"^[\w\s.:/=+\-@]*$")  # AWS's [\p{L}\p{Z}\p{N}_.:/=+\-@]*
    assert all(pattern.match(t["Key"]) and pattern.match(t["Value"]) for t in tags)
    assert settings_from_tags(tags) == settings
    assert settings_from_tags([]) == JobSettings()
    quiet = JobSettings(checkpoint_markers=False)
    assert quiet.to_tags() == [{"Key": "smemu:checkpoint-markers", "Value": "off"}]
    assert settings_from_tags(quiet.to_tags()) == quiet
    # An explicit choice travels even when it equals the default (the endpoint's may differ).
    assert settings_from_tags(JobSettings().to_tags(["checkpoint_markers"]), quiet) == \
        JobSettings()
    directory = JobSettings(checkpoint_prefix="directory")
    assert directory.to_tags() == [{"Key": "smemu:checkpoint-prefix", "Value": "directory"}]
    assert settings_from_tags(directory.to_tags()) == directory
    assert settings_from_tags(JobSettings().to_tags(["checkpoint_prefix"]), directory) == \
        JobSettings()


@pytest.mark.parametrize(("key", "value"), [
    ("smemu:interrupt", "soon"), ("smemu:grace-period", "x"),
    ("smemu:checkpoint-flush", "maybe"), ("smemu:spot-price-ratio", "2"),
    ("smemu:checkpoint-markers", "yes"), ("smemu:checkpoint-prefix", "dir"),
])
def test_bad_tags_are_validation_errors(key: str, value: str) -> None:
    with pytest.raises(ValidationException, match="Invalid emulator tag"):
        settings_from_tags([{"Key": key, "Value": value}])


def test_code_dir_travels_in_tags_and_must_be_absolute() -> None:
    code = JobSettings(code_dir="/home/me/src")
    assert code.to_tags() == [{"Key": "smemu:code-dir", "Value": "/home/me/src"}]
    assert settings_from_tags(code.to_tags()) == code
    elsewhere = JobSettings(code_dir="/home/me/src", code_path="/app")
    assert settings_from_tags(elsewhere.to_tags()) == elsewhere
    assert elsewhere.to_dict()["CodePath"] == "/app"
    assert "CodeDir" not in JobSettings().to_dict()
    for key in ("smemu:code-dir", "smemu:code-path"):
        with pytest.raises(ValidationException, match=f"{key} must be an absolute path"):
            settings_from_tags([{"Key": key, "Value": "src"}])
