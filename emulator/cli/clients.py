"""Clients of the local endpoint, and starting it on demand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from emulator import contract
from emulator.cli.botocore_models import cli_session
from emulator.errors import EndpointUnavailable
from emulator.server import daemon
from emulator.storage.s3 import S3Endpoint


def ensure_endpoint(url: str | None, start: bool = True,
                    allow_paths: Sequence[str] = ()) -> str:
    """The endpoint's URL; the default local one is started when nothing answers (see
    `ensure_endpoint_health`)."""
    return ensure_endpoint_health(url, start, allow_paths)[0]


def ensure_endpoint_health(url: str | None, start: bool = True,
                           allow_paths: Sequence[str] = ()) -> tuple[str, dict[str, Any]]:
    """The endpoint's URL and health document; the default local one is started when nothing
    answers.

    With `start` (that is, `smemu run`) and no URL given, the user did not choose an endpoint:
    say which one the job goes to, whether it was already running or is started now. One it
    starts may read `allow_paths` (`--allow-path`): the host paths the command line named,
    its user's own."""
    target = (url or daemon.default_endpoint_url()).rstrip("/")
    if (doc := daemon.health(target)) is not None:
        if start and url is None:
            click.echo(f"Using the running endpoint on {target}", err=True)
        return target, doc
    local_default = target == daemon.default_endpoint_url(contract.DEFAULT_PORT)
    if not start or not (url is None and local_default):
        command = "smemu up" + ("" if local_default else f" --port {target.rsplit(':', 1)[-1]}")
        raise EndpointUnavailable(
            f"no smemu endpoint answers at {target}. Start one with `{command}`")
    allowing = f", allowing the host paths {', '.join(allow_paths)}" if allow_paths else ""
    click.echo(f"Starting the local endpoint on {target}{allowing} (stop it with `smemu down`) "
               "...", err=True)
    args = [arg for path in allow_paths for arg in ("--allow-path", path)]
    started = str(daemon.up(contract.DEFAULT_PORT, extra_args=args)["url"])
    return started, daemon.health(started) or {}


class LazyClient:
    """A client of the endpoint, made when first used: making one parses botocore's JSON model
    of its service (0.1-0.3 s of CPU), and most commands use one of the three."""

    def __init__(self, endpoint: S3Endpoint, service: str) -> None:
        self._endpoint = endpoint
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._endpoint.client(self._service), name)


def clients(url: str) -> tuple[Any, Any, Any]:
    """(sagemaker, logs, s3) clients bound to the endpoint, signed with its keys, each made on
    first use; SageMaker's from the CLI's trimmed model (emulator.cli.botocore_models)."""
    endpoint = S3Endpoint.of_endpoint(url, session=cli_session)
    return (LazyClient(endpoint, "sagemaker"), LazyClient(endpoint, "logs"),
            LazyClient(endpoint, "s3"))


def endpoint_s3_url(url: str, health: dict[str, Any] | None = None) -> str:
    """Where the endpoint at ``url`` keeps checkpoints and artifacts: its embedded S3 (``url``
    itself) or the server it was started with (`smemu serve --s3-endpoint-url`). ``health``:
    its health document when the caller has it already (else it is asked for)."""
    doc = daemon.health(url) if health is None else health
    return str((doc or {}).get("s3_endpoint_url") or url)


def s3_client(url: str, endpoint_url: str | None = None) -> Any:
    """An S3 client for a look-up on any S3 server: one that does not answer fails in seconds
    (two tries), not after the endpoint's long retry budget. On the endpoint's own S3 (`url`
    is `endpoint_url`) it signs with the endpoint's keys, elsewhere with $SMEMU_S3_*."""
    own = endpoint_url is not None and url.rstrip("/") == endpoint_url.rstrip("/")
    endpoint = S3Endpoint.of_endpoint(url) if own else S3Endpoint(url)
    return endpoint.client("s3", retries={"max_attempts": 2, "mode": "standard"},
                           connect_timeout=5, read_timeout=60)
