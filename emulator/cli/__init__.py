"""The `smemu` command: thin wrappers that build a library object, make one call, print."""

from __future__ import annotations

from emulator.cli.group import clean_errors, cli

__all__ = ["clean_errors", "cli", "main"]


def main() -> None:
    from emulator.cli import (  # noqa: F401  (each registers its commands on the group)
        commands_checkpoints,
        commands_doctor,
        commands_jobs,
        commands_run,
        commands_service,
    )

    cli()
