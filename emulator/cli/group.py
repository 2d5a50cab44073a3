"""The `smemu` click group and the error wrapper every command shares (commands import this,
not the package, so that the package can import the commands)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError

from emulator.errors import EmulatorError
from emulator.version import __version__

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(func: F) -> F:
    """One line on stderr and a non-zero exit instead of a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ClientError as err:
            error = err.response.get("Error", {})
            click.echo(f"smemu: {error.get('Code', 'Error')}: {error.get('Message', err)}",
                       err=True)
            sys.exit(2)
        except (EmulatorError, BotoCoreError) as err:
            click.echo(f"smemu: {err}", err=True)
            sys.exit(2)
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click exits quietly (status 1)
        except OSError as err:  # files, pipes, sockets: say which and why, no traceback
            where = f" ({err.filename})" if getattr(err, "filename", None) else ""
            click.echo(f"smemu: {err.strerror or err}{where}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


# The module that defines each command, imported when the command is run: `smemu run` does not
# import the Docker SDK or the checkpoint engine for the commands it does not run (~0.3 s of
# CPU at every start).
COMMAND_MODULES = {"checkpoints": "commands_checkpoints", "doctor": "commands_doctor",
                   "jobs": "commands_jobs", "logs": "commands_jobs", "run": "commands_run",
                   "cleanup": "commands_service", "down": "commands_service",
                   "serve": "commands_service", "status": "commands_service",
                   "up": "commands_service"}


class LazyGroup(click.Group):
    """A group whose commands register themselves when their module is imported."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"emulator.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        for module in sorted(set(COMMAND_MODULES.values())):
            importlib.import_module(f"emulator.cli.{module}")
        return super().list_commands(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smemu")
def cli() -> None:
    """Run SageMaker training containers locally: checkpoints mirrored to S3, spot interruptions
    injected, behind an endpoint that boto3, the AWS CLI and the SageMaker SDK talk to."""
