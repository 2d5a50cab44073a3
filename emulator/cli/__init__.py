"""The `smemu` command: thin wrappers that build a library object, make one call, print."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from botocore.exceptions import BotoCoreError, ClientError

from emulator import __version__
from emulator.errors import EmulatorError

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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="smemu")
def cli() -> None:
    """Run SageMaker training containers locally: checkpoints mirrored to S3, spot interruptions
    injected, behind an endpoint that boto3, the AWS CLI and the SageMaker SDK talk to."""


def main() -> None:
    import emulator.cli.commands_checkpoints  # noqa: F401
    from emulator.cli import commands_jobs, commands_run, commands_service  # noqa: F401

    cli()
