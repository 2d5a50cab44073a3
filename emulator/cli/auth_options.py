"""`--auth`, `--auth-file`, `--auth-profile`: the endpoint's keys, on `smemu serve`, `up` and
`run` (which may start the endpoint, and signs its own requests with them)."""

from __future__ import annotations

import os

import click

from emulator.auth.keys import (
    AUTH_ENV,
    AUTH_FILE_ENV,
    AUTH_PROFILE_ENV,
    AuthConfigError,
    AuthKeys,
    resolve_keys,
)
from emulator.cli.group import F

_AUTH_OPTIONS = [
    click.option("--auth", metavar="ACCESS_KEY:SECRET", default=None,
                 help="Check every request's SigV4 signature against this key pair (refused "
                      "in AWS's own error otherwise); smemu's clients and the training "
                      f"containers sign with it. Default: ${AUTH_ENV}, else --auth-file / "
                      f"${AUTH_FILE_ENV}, else no check."),
    click.option("--auth-file", type=click.Path(dir_okay=False), default=None,
                 help="The key pair from this AWS credentials file (aws_access_key_id, "
                      "aws_secret_access_key) instead of --auth."),
    click.option("--auth-profile", metavar="NAME", default=None,
                 help=f"The profile of --auth-file / ${AUTH_FILE_ENV}. Default: "
                      f"${AUTH_PROFILE_ENV}, else 'default'."),
]


def auth_options(func: F) -> F:
    for option in reversed(_AUTH_OPTIONS):
        func = option(func)
    return func


def keys_from_options(auth: str | None, auth_file: str | None,
                      auth_profile: str | None) -> AuthKeys | None:
    """The keys the flags (else the environment) give; None: no signature check."""
    try:
        return resolve_keys(auth, auth_file, auth_profile)
    except AuthConfigError as err:
        raise click.BadParameter(str(err), param_hint="--auth / --auth-file") from None


def use_keys_in_this_process(keys: AuthKeys | None) -> None:
    """Make the flags' keys the ones this command's clients sign with and an endpoint it
    starts checks (through $SMEMU_AUTH: the child inherits it, and no secret is in its
    command line)."""
    if keys is not None:
        os.environ[AUTH_ENV] = keys.as_text()
