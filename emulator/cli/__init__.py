"""The `smemu` command: thin wrappers that build a library object, make one call, print."""

from __future__ import annotations

from emulator.cli.group import clean_errors, cli

__all__ = ["clean_errors", "cli", "main"]


def main() -> None:
    cli()  # each command's module is imported when it runs (emulator.cli.group.LazyGroup)
