"""The `smemu` group imports a command's module only when that command runs: every command is
in the group's map (a new one missing from it could not be run), and `smemu run` does not
import the Docker SDK."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

from emulator.cli.group import COMMAND_MODULES, cli


def test_every_command_is_mapped_to_the_module_that_defines_it() -> None:
    for module in ("commands_checkpoints", "commands_doctor", "commands_jobs", "commands_run",
                   "commands_service"):
        importlib.import_module(f"emulator.cli.{module}")
    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, command in cli.commands.items():
        defined_in = command.callback.__module__ if command.callback else ""
        assert defined_in == f"emulator.cli.{COMMAND_MODULES[name]}", name


def test_smemu_run_imports_neither_docker_nor_the_other_commands() -> None:
    script = ("import sys\nfrom emulator.cli import main\n"
              "sys.argv = ['smemu', 'run', '--help']\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in sys.modules if m == 'docker' or "
              "m.startswith('emulator.cli.commands_')))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ}, timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "['emulator.cli.commands_run']"


# What the default path of `smemu run` never uses, kept off its import (issue 13: they were
# ~0.2 s of its 0.45 s of imports): boto3 and s3transfer (boto3 makes only S3's clients, and
# the command's bucket check is one signed HEAD), rich (a terminal's live bars and timeline),
# the HTML report (--report), the checkpoint engine and the job model.
OFF_RUNS_PATH = ("boto3", "s3transfer", "rich", "docker", "emulator.checkpoints",
                 "emulator.cli.report_file", "emulator.report.html_page", "emulator.jobs.model")


def test_smemu_run_imports_nothing_its_default_path_does_not_use() -> None:
    script = ("import sys\nimport emulator.cli.commands_run\n"
              f"off = {OFF_RUNS_PATH!r}\n"
              "print(sorted(m for m in sys.modules if any(m == o or m.startswith(o + '.') "
              "for o in off)))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ}, timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
