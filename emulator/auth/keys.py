"""The endpoint's access key pair: from `--auth ACCESS_KEY:SECRET`, an AWS credentials file
(`--auth-file FILE`, `--auth-profile NAME`) or the environment, for the endpoint and its clients.

One lookup serves both sides, so setting $SMEMU_AUTH (or $SMEMU_AUTH_FILE) once in a shell
makes `smemu up` check signatures and `smemu run` / `jobs` / `logs` / `checkpoints` / `doctor`
sign with the same keys. Without any of them the endpoint checks nothing (the default) and the
clients sign with smemu's dummy keys.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emulator.errors import EmulatorError

AUTH_ENV = "SMEMU_AUTH"  # ACCESS_KEY:SECRET
AUTH_FILE_ENV = "SMEMU_AUTH_FILE"  # an AWS credentials file
AUTH_PROFILE_ENV = "SMEMU_AUTH_PROFILE"  # its profile
DEFAULT_PROFILE = "default"
# What smemu's clients sign with when the endpoint checks nothing (any key is accepted then).
DUMMY_ACCESS_KEY = DUMMY_SECRET_KEY = "smemu"


class AuthConfigError(EmulatorError):
    """The keys given are unusable (a malformed pair, a missing file or profile)."""


@dataclass(frozen=True)
class AuthKeys:
    access_key: str
    secret_key: str = field(repr=False)

    def as_text(self) -> str:
        """ACCESS_KEY:SECRET, the form --auth and $SMEMU_AUTH take."""
        return f"{self.access_key}:{self.secret_key}"


DUMMY_KEYS = AuthKeys(DUMMY_ACCESS_KEY, DUMMY_SECRET_KEY)


def parse_auth(text: str, source: str = "--auth") -> AuthKeys:
    """'AKID:SECRET' -> AuthKeys (the secret may itself hold ':')."""
    access_key, colon, secret = text.strip().partition(":")
    if not colon:
        raise AuthConfigError(f"{source} must be ACCESS_KEY:SECRET (with a colon between)")
    return _checked(access_key, secret, source)


def read_credentials_file(path: str | os.PathLike[str], profile: str | None = None
                          ) -> AuthKeys:
    """aws_access_key_id / aws_secret_access_key of one profile of an AWS credentials file."""
    name = profile or DEFAULT_PROFILE
    parser = configparser.ConfigParser(interpolation=None)
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise AuthConfigError(f"cannot read the credentials file {path}: "
                              f"{err.strerror or err}") from None
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as err:
        raise AuthConfigError(f"the credentials file {path} does not parse: {err}") from None
    if not parser.has_section(name):
        raise AuthConfigError(f"the credentials file {path} has no profile [{name}]")
    section = parser[name]
    source = f"profile [{name}] of {path}"
    if "aws_access_key_id" not in section or "aws_secret_access_key" not in section:
        raise AuthConfigError(f"{source} needs aws_access_key_id and aws_secret_access_key")
    return _checked(section["aws_access_key_id"], section["aws_secret_access_key"], source)


def resolve_keys(auth: str | None = None, auth_file: str | os.PathLike[str] | None = None,
                 profile: str | None = None,
                 environ: Mapping[str, str] | None = None) -> AuthKeys | None:
    """The keys in force: --auth, else --auth-file, else $SMEMU_AUTH, else $SMEMU_AUTH_FILE
    (profile: the argument, else $SMEMU_AUTH_PROFILE, else 'default'); None when none is set."""
    env = os.environ if environ is None else environ
    profile = profile or env.get(AUTH_PROFILE_ENV) or None
    if auth:
        return parse_auth(auth)
    if auth_file:
        return read_credentials_file(auth_file, profile)
    if env.get(AUTH_ENV):
        return parse_auth(env[AUTH_ENV], f"${AUTH_ENV}")
    if env.get(AUTH_FILE_ENV):
        return read_credentials_file(env[AUTH_FILE_ENV], profile)
    return None


def client_keys(environ: Mapping[str, str] | None = None) -> AuthKeys:
    """What a client of the endpoint signs with: the configured keys, else the dummy ones."""
    return resolve_keys(environ=environ) or DUMMY_KEYS


def _checked(access_key: str, secret: str, source: str) -> AuthKeys:
    access_key, secret = access_key.strip(), secret.strip()
    if not access_key or not secret:
        raise AuthConfigError(f"{source}: the access key and the secret must not be empty")
    if any(c in access_key for c in "/,= \t") or not access_key.isprintable():
        raise AuthConfigError(f"{source}: the access key may not hold '/', ',', '=' or "
                              "spaces (a SigV4 credential scope is split on them)")
    return AuthKeys(access_key, secret)
