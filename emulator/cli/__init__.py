"""The `smemu` command: thin wrappers that build a library object, make one call, print."""

from __future__ import annotations

import gc

from emulator.cli.group import clean_errors, cli

__all__ = ["clean_errors", "cli", "main"]


def main() -> None:
    try:
        cli()  # each command's module is imported when it runs (emulator.cli.group.LazyGroup)
    finally:
        # The exit: the interpreter's last collections walk every object it tracks, botocore's
        # parsed service models too (~0.1 s after a `smemu run`); frozen ones are skipped and
        # the process ends with its output flushed, as before.
        gc.freeze()
