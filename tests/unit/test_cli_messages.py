"""The CLI's own messages: help on every command, short errors for a bad instance type or plan."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from emulator.cli import cli
from emulator.errors import EmulatorError, PlanError
from emulator.faults.plan import load_plan_file
from emulator.jobs.request import RunOptions, build_request
from emulator.jobs.settings import JobSettings


def _commands(group: click.Group, prefix: str = "smemu") -> list[tuple[str, click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        out.append((f"{prefix} {name}", command))
        if isinstance(command, click.Group):
            out += _commands(command, f"{prefix} {name}")
    return out


def test_every_command_has_help_text() -> None:
    import emulator.cli.commands_checkpoints  # noqa: F401  (what main() imports: every command)
    from emulator.cli import commands_jobs, commands_run, commands_service  # noqa: F401

    missing = [name for name, command in _commands(cli) if not (command.help or "").strip()]
    assert not missing, f"commands without help text: {missing}"
    listing = CliRunner().invoke(cli, ["jobs", "--help"]).output
    for name in ("list", "describe", "stop"):
        line = next(row for row in listing.splitlines() if row.strip().startswith(name + " "))
        assert line.split(None, 1)[1:], f"`smemu jobs {name}` shows no help in: {listing}"


def _request(**options: object) -> dict[str, object]:
    return build_request(RunOptions(image="smemu-toy-trainer:latest", **options),  # type: ignore[arg-type]
                         JobSettings())


def test_a_misspelt_instance_type_is_one_short_line_with_the_closest_names() -> None:
    with pytest.raises(EmulatorError) as caught:
        _request(instance_type="ml.m5.larg")
    message = str(caught.value)
    assert message.startswith("--instance-type 'ml.m5.larg' is not a SageMaker training "
                              "instance type; did you mean ml.m5.large")
    assert len(message) < 200 and "\n" not in message


def test_an_instance_type_far_from_every_name_gets_an_example() -> None:
    with pytest.raises(EmulatorError, match=r"'p3' is not .* \(they look like ml.m5.large\)$"):
        _request(instance_type="p3")


def test_a_bad_instance_type_from_the_request_file_names_the_field(tmp_path: Path) -> None:
    request = tmp_path / "job.json"
    request.write_text('{"ResourceConfig": {"InstanceType": "ml.c5.xlargee"}}')
    with pytest.raises(EmulatorError, match=r"^ResourceConfig.InstanceType 'ml.c5.xlargee' .*"
                                            r"did you mean ml.c5.xlarge"):
        _request(request_file=request)


def test_a_valid_instance_type_passes() -> None:
    assert _request(instance_type="ml.g5.2xlarge")["ResourceConfig"]["InstanceType"] \
        == "ml.g5.2xlarge"  # type: ignore[index]


@pytest.mark.parametrize(("text", "where"), [
    ("interrupt:\n  - after=30s\n  trigger: start\n", "(line 3, column 3)"),
    ("interrupt: [after=30s\n", "(line 2, column 1)"),
])
def test_a_bad_yaml_plan_is_one_line_saying_where(tmp_path: Path, text: str, where: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    with pytest.raises(PlanError) as caught:
        load_plan_file(str(plan))  # a str path is accepted, as a PathLike is
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{plan} is neither YAML nor JSON: ") and message.endswith(where)
