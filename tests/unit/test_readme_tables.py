"""The README's tables of `smemu run` flags and of emulator tags name every flag and tag the
code has (the trigger tables have tests/unit/test_trigger_catalog.py)."""

from __future__ import annotations

from pathlib import Path

import click

from emulator.jobs import settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    return README[start:README.index("\n## ", start)]


def written(option: click.Parameter, table: str) -> bool:
    """An option is in the table under one of its names (`-H`, `--[no-]checkpoint-markers`)."""
    names = [*option.opts, *option.secondary_opts]
    names += [n.replace("--", "--[no-]", 1) for n in option.opts if n.startswith("--")]
    return any(f"`{n}" in table or f" {n}" in table for n in names)


def test_every_run_flag_is_in_the_flag_table() -> None:
    from emulator.cli import cli, commands_run  # noqa: F401  (registers `run`)

    table = section("### Flags of `smemu run`")
    run = cli.commands["run"]  # type: ignore[attr-defined]
    missing = [p.opts[0] for p in run.params
               if isinstance(p, click.Option) and not p.hidden and not written(p, table)
               and p.name != "help"]
    assert missing == [], f"README's `smemu run` flag table lacks {missing}"


def test_every_emulator_tag_is_in_the_tag_table() -> None:
    table = section("### Emulator settings in the request itself")
    tags = [value for name, value in vars(settings).items()
            if name.startswith("TAG_") and name != "TAG_PREFIX"]
    assert tags and [t for t in tags if f"`{t}`" not in table] == []
