"""The registry of trigger kinds is the one source: parser, errors, CLI help, README follow it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from emulator.errors import PlanError
from emulator.faults import catalog
from emulator.faults.arming import ArmedTrigger, PlanCursor
from emulator.faults.kinds import KINDS, Wait, register
from emulator.faults.plan import parse_plan, parse_trigger
from emulator.faults.trigger import OPTIONS, Trigger, TriggerOption

README = Path(__file__).resolve().parents[2] / "README.md"
HOOKS = [name for name in dir(Trigger) if name.startswith("fires_on_")]  # the observations


def test_readme_trigger_tables_are_the_registry() -> None:
    text = README.read_text()
    begin, end = text.find(catalog.README_BEGIN), text.find(catalog.README_END)
    assert 0 <= begin < end, "README.md lost its trigger table markers"
    written = text[begin:end + len(catalog.README_END)]
    assert written == catalog.readme_tables(), \
        "README.md's trigger tables differ from the registry (emulator/faults/kinds.py): " \
        "paste the output of `python -m emulator.faults.catalog` between the markers"


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_documents_parses_and_fires_on_something(name: str) -> None:
    kind = KINDS[name]
    assert kind.kind == name and kind.takes_value() == ("=" in kind.example)
    assert kind.fires and "|" not in kind.fires  # one Markdown table cell
    example = parse_trigger(kind.example)
    assert type(example) is kind
    assert parse_trigger(example.spec) == example
    overridden = [hook for hook in HOOKS if getattr(kind, hook) is not getattr(Trigger, hook)]
    # A kind that interrupts says when: at start-up or through exactly one observation.
    if kind is Wait:
        assert overridden == [] and not kind.fires_at_start
    else:
        assert len(overridden) + kind.fires_at_start == 1, (name, overridden)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_example_sets_it(option: TriggerOption) -> None:
    trigger = parse_trigger(option.example)
    assert option.render(trigger) is not None
    assert f"/{option.name}" in trigger.spec
    assert option.render(parse_trigger(option.example.split("/")[0])) is None


def test_cli_help_and_errors_name_every_kind_and_option() -> None:
    from emulator.cli import cli, commands_run  # noqa: F401  (registers `run`)

    result = CliRunner().invoke(cli, ["run", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if "--interrupt TRIGGER" in line]
    with pytest.raises(PlanError) as bad:
        parse_trigger("whenever=5s")
    assert len(str(bad.value).splitlines()) == 1
    for text in (line, str(bad.value)):
        for kind in KINDS.values():
            assert kind.syntax in text
        for option in OPTIONS:
            assert option.syntax in text


@pytest.fixture
def scratch_registry() -> Iterator[None]:
    """Kinds registered by a test are gone after it."""
    saved = dict(KINDS)
    yield
    KINDS.clear()
    KINDS.update(saved)


@pytest.mark.usefixtures("scratch_registry")
def test_a_new_kind_is_one_registered_class() -> None:
    """What a new kind takes, written as it would be in kinds.py: one class, with a value of a
    type no other kind has; the parser, the tags, the arming, the help and the README follow."""

    @register("loss-below=X", example="loss-below=0.5",
              fires="when the container logs `loss=V` with V below X")
    @dataclass(frozen=True, kw_only=True)
    class LossBelow(Trigger):
        threshold: float = 0.0

        @classmethod
        def parse_value(cls, value: str, text: str) -> LossBelow:
            try:
                return cls(threshold=float(value))
            except ValueError:
                raise PlanError(f"invalid interruption trigger {text!r}: X is a number") from None

        def value_text(self) -> str:
            return f"{self.threshold:g}"

        def fires_on_log(self, line: str) -> bool:
            found = re.search(r"loss=(\d+(?:\.\d+)?)", line)
            return found is not None and float(found.group(1)) < self.threshold

    plan = parse_plan(parse_plan(["loss-below=0.5/hard", "after=1s"]).to_tag_value())
    assert plan.triggers[0] == LossBelow(threshold=0.5, hard=True)
    assert plan.spec == "loss-below=0.5/hard after=1s"
    armed = PlanCursor(plan).armed()
    assert isinstance(armed, ArmedTrigger)
    assert not armed.on_log("step 3 loss=0.61") and armed.on_log("step 4 loss=0.42")
    assert not armed.on_time(3600, 3600) and not armed.on_upload()
    assert "loss-below=X" in catalog.syntax() and "loss-below=X" in catalog.interrupt_help()
    assert "| `loss-below=X` | when the container logs" in catalog.readme_tables()
    with pytest.raises(PlanError, match="X is a number"):
        parse_trigger("loss-below=low")
