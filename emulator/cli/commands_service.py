"""smemu serve / up / down / status / cleanup."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Sequence
from typing import Any

import click

from emulator import contract
from emulator.cli.auth_options import auth_options, keys_from_options, use_keys_in_this_process
from emulator.cli.bind_policy import check_bind
from emulator.cli.group import F, clean_errors, cli
from emulator.errors import PlanError
from emulator.faults.plan import parse_duration
from emulator.jobs.instance_limits import parse_instance_limits
from emulator.jobs.settings import (
    FLUSH_MODES,
    GPU_FALLBACKS,
    PREFIX_MODES,
    CheckpointFlush,
    CheckpointPrefix,
    GpuFallback,
    JobSettings,
)
from emulator.runtime.engine import DockerEngine
from emulator.server import daemon
from emulator.storage.backends import DEFAULT_S3_BACKEND, S3_BACKENDS

SHUTDOWN_BUDGET_ENV = "SMEMU_SHUTDOWN_BUDGET"
ALLOW_PATH_ENV = "SMEMU_ALLOW_PATH"
port_option = click.option("--port", type=int, default=contract.DEFAULT_PORT, show_default=True,
                           help="Port on 127.0.0.1.")
verbose_option = click.option("--verbose", "-v", is_flag=True,
                              help="Also log every HTTP request (the access log, at DEBUG).")


def _check_instance_limits(_ctx: click.Context, _param: click.Parameter, text: str) -> str:
    try:
        return parse_instance_limits(text, "--instance-limits").to_text()
    except PlanError as err:
        raise click.BadParameter(str(err)) from None


_ENDPOINT_OPTIONS = [
    click.option("--s3-endpoint-url", default=None,
              help="Keep checkpoints and artifacts on this S3 (e.g. MinIO) instead of the "
                   "embedded one."),
    click.option("--s3-backend", type=click.Choice(S3_BACKENDS), default=None,
                 help="The embedded S3: 'disk' keeps objects under the state directory "
                      "(kept across restarts and crashes), 'moto' in memory (lost when the "
                      f"endpoint stops). Default: $SMEMU_S3_BACKEND, else {DEFAULT_S3_BACKEND}."),
    click.option("--grace-period", default=None,
                 help="Default SIGTERM->SIGKILL window for interruptions and stops (e.g. 120s)."),
    click.option("--checkpoint-flush", type=click.Choice(FLUSH_MODES), default="flush",
                 show_default=True, help="Default: upload what is left after a kill, or lose it."),
    click.option("--checkpoint-versioning/--no-checkpoint-versioning", default=True,
                 show_default=True,
                 help="Keep every uploaded checkpoint version on the embedded S3 "
                      "(smemu checkpoints ls --versions)."),
    click.option("--spot-price-ratio", type=float, default=contract.DEFAULT_SPOT_PRICE_RATIO,
                 show_default=True, help="Billable = training seconds * ratio for spot jobs."),
    click.option("--checkpoint-markers/--no-checkpoint-markers", default=True,
                 show_default=True,
                 help="Default: write <file>.sagemaker-uploading/.sagemaker-uploaded beside "
                      "each checkpoint file the mirror uploads, as SageMaker does."),
    click.option("--shutdown-budget", default=None, metavar="DURATION",
                 help="On SIGTERM, Ctrl-C or `smemu down`, running jobs get StopTrainingJob "
                      "with their SIGTERM->SIGKILL grace cut to this (one budget for all); "
                      "then their checkpoints and models are uploaded and they end Stopped. "
                      f"Default: $SMEMU_SHUTDOWN_BUDGET, else "
                      f"{contract.DEFAULT_SHUTDOWN_BUDGET_S:g}s."),
    click.option("--max-training-instances", type=click.IntRange(min=1), default=None,
                 help="Instances (containers) all running jobs may use at once; a job over "
                      "it gets ResourceLimitExceeded. Default: "
                      "$SMEMU_MAX_TRAINING_INSTANCES, else max(2, min(4 x CPUs, memory GiB))."),
    click.option("--checkpoint-prefix", type=click.Choice(PREFIX_MODES), default="string",
                 show_default=True,
                 help="Default: a checkpoint S3Uri without a trailing / restores every key "
                      "that starts with it, sibling prefixes too, as SageMaker does (string), "
                      "or only the keys under it (directory)."),
    click.option("--gpu-fallback", type=click.Choice(GPU_FALLBACKS), default="cpu",
                 show_default=True,
                 help="Default: a ml.g*/ml.p* job on an engine without the NVIDIA runtime runs "
                      "on CPU, flagged (cpu), or is refused (refuse)."),
    click.option("--allow-path", "allow_paths", multiple=True, metavar="DIR",
                 type=click.Path(file_okay=False), envvar=ALLOW_PATH_ENV,
                 help="A host directory requests may name: file:// channels and the "
                      "smemu:code-dir tag (smemu run --code) must lie inside one (after "
                      "resolving .. and symlinks); any other host path is refused with a "
                      "ValidationException. Repeatable; also $SMEMU_ALLOW_PATH (DIR:DIR). "
                      "Default: none."),
    click.option("--instance-limits", default="off", show_default=True,
                 metavar="off|full|scaled:F", callback=_check_instance_limits,
                 help="Default: no CPU/memory limits (off), each host's instance type's vCPUs "
                      "and memory (full), or those times F (e.g. scaled:0.25 on a laptop)."),
    click.option("--ephemeral", is_flag=True,
                 help="Keep the job history, the disk S3's objects and work directories in "
                      "a temporary directory, "
                      "removed at exit: a blank slate (CI), nothing read from or left in the "
                      "state directory."),
]


def _shutdown_budget(text: str | None) -> float:
    """--shutdown-budget, else $SMEMU_SHUTDOWN_BUDGET, else the default, in seconds."""
    text = text or os.environ.get(SHUTDOWN_BUDGET_ENV) or None
    if text is None:
        return contract.DEFAULT_SHUTDOWN_BUDGET_S
    try:
        return parse_duration(text)
    except PlanError as err:
        raise click.BadParameter(str(err), param_hint="--shutdown-budget / "
                                 f"${SHUTDOWN_BUDGET_ENV}") from None


def endpoint_options(func: F) -> F:
    for option in reversed(_ENDPOINT_OPTIONS):
        func = option(func)
    return func


def serve_args(s3_endpoint_url: str | None, grace_period: str | None, checkpoint_flush: str,
               checkpoint_versioning: bool, spot_price_ratio: float,
               checkpoint_markers: bool, ephemeral: bool = False,
               s3_backend: str | None = None, checkpoint_prefix: str = "string",
               gpu_fallback: str = "cpu", shutdown_budget: str | None = None,
               max_training_instances: int | None = None,
               allow_paths: Sequence[str] = (),
               instance_limits: str = "off") -> list[str]:
    """The same settings as `smemu serve` flags, for `smemu up` to pass on."""
    args = ["--checkpoint-flush", checkpoint_flush, "--spot-price-ratio", f"{spot_price_ratio:g}"]
    for path in allow_paths:  # absolute: the background endpoint has a working dir of its own
        args += ["--allow-path", os.path.abspath(path)]
    if s3_backend:
        args += ["--s3-backend", s3_backend]
    if s3_endpoint_url:
        args += ["--s3-endpoint-url", s3_endpoint_url]
    if grace_period:
        args += ["--grace-period", grace_period]
    if shutdown_budget:
        args += ["--shutdown-budget", shutdown_budget]
    if max_training_instances is not None:
        args += ["--max-training-instances", str(max_training_instances)]
    if not checkpoint_versioning:
        args.append("--no-checkpoint-versioning")
    if not checkpoint_markers:
        args.append("--no-checkpoint-markers")
    if checkpoint_prefix != "string":
        args += ["--checkpoint-prefix", checkpoint_prefix]
    if gpu_fallback != "cpu":
        args += ["--gpu-fallback", gpu_fallback]
    if instance_limits != "off":
        args += ["--instance-limits", instance_limits]
    if ephemeral:
        args.append("--ephemeral")
    return args


@cli.command()
@port_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on: 0.0.0.0 inside a container whose port is published "
                   "(never on a machine others reach: the endpoint has no authentication). "
                   "A non-loopback address needs --allow-remote.")
@click.option("--allow-remote", is_flag=True,
              help="Allow --host to be a non-loopback address (prints a warning).")
@endpoint_options
@auth_options
@verbose_option
@clean_errors
def serve(port: int, host: str, allow_remote: bool, auth: str | None, auth_file: str | None,
          auth_profile: str | None, s3_endpoint_url: str | None,
          s3_backend: str | None,
          grace_period: str | None, checkpoint_flush: str, checkpoint_versioning: bool,
          spot_price_ratio: float, checkpoint_markers: bool, checkpoint_prefix: str,
          gpu_fallback: str, shutdown_budget: str | None,
          max_training_instances: int | None, allow_paths: tuple[str, ...],
          instance_limits: str, ephemeral: bool,
          verbose: bool) -> None:
    """Run the endpoint in the foreground. SIGTERM or Ctrl-C stops every job as
    StopTrainingJob does, within the shutdown budget; a second one kills them at once."""
    from emulator.server.endpoint import EndpointServer
    from emulator.server.handler import access_log

    check_bind(host, allow_remote)
    keys = keys_from_options(auth, auth_file, auth_profile)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if verbose:
        access_log.setLevel(logging.DEBUG)
    defaults = JobSettings(
        grace_period=parse_duration(grace_period) if grace_period else
        contract.DEFAULT_GRACE_PERIOD_S,
        checkpoint_flush=CheckpointFlush(checkpoint_flush), spot_price_ratio=spot_price_ratio,
        checkpoint_markers=checkpoint_markers,
        checkpoint_prefix=CheckpointPrefix(checkpoint_prefix),
        gpu_fallback=GpuFallback(gpu_fallback),
        instance_limits=parse_instance_limits(instance_limits),
    )
    # This process is the endpoint, so its environment is its own: objects above 1 MiB spill
    # from moto's memory to temp files (checkpoints are big). moto reads it for each object.
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(1024 * 1024))
    server = EndpointServer(host=host, port=port, state_dir=daemon.state_dir(),
                            s3_url=s3_endpoint_url, defaults=defaults,
                            checkpoint_versioning=checkpoint_versioning, ephemeral=ephemeral,
                            s3_backend=s3_backend,
                            shutdown_budget=_shutdown_budget(shutdown_budget),
                            max_training_instances=max_training_instances, auth=keys,
                            allow_paths=allow_paths)
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        if not stop.is_set():
            stop.set()
            return
        click.echo("second signal: killing every job now (no grace period)", err=True)
        # Not in the handler itself: it may interrupt the shutdown holding a job's lock.
        threading.Thread(target=server.kill_jobs, name="smemu-kill", daemon=True).start()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    with server:
        click.echo(f"smemu endpoint {server.server_id} listening on {server.url} "
                   f"(SageMaker, S3, CloudWatch Logs, STS)", err=True)
        click.echo(f"checking SigV4 signatures: only access key {keys.access_key} is let in"
                   if keys else "not checking signatures (any credentials are let in; see "
                   "--auth)", err=True)
        if server.host_paths.roots:
            click.echo("host paths allowed (file:// channels, smemu:code-dir) inside: "
                       + ", ".join(server.host_paths.roots), err=True)
        stop.wait()
        click.echo(f"shutting down: StopTrainingJob for every running job (grace at most "
                   f"{server.shutdown_budget:g}s), then their uploads ...", err=True)
    click.echo("smemu endpoint stopped", err=True)


@cli.command()
@port_option
@endpoint_options
@auth_options
@verbose_option
@clean_errors
def up(port: int, auth: str | None, auth_file: str | None, auth_profile: str | None,
       s3_endpoint_url: str | None, s3_backend: str | None,
       grace_period: str | None, checkpoint_flush: str, checkpoint_versioning: bool,
       spot_price_ratio: float, checkpoint_markers: bool, checkpoint_prefix: str,
       gpu_fallback: str, shutdown_budget: str | None, max_training_instances: int | None,
       allow_paths: tuple[str, ...], instance_limits: str, ephemeral: bool,
       verbose: bool) -> None:
    """Start the endpoint in the background (does nothing if it already runs)."""
    keys = keys_from_options(auth, auth_file, auth_profile)
    use_keys_in_this_process(keys)
    args = serve_args(s3_endpoint_url, grace_period, checkpoint_flush, checkpoint_versioning,
                      spot_price_ratio, checkpoint_markers, ephemeral, s3_backend,
                      checkpoint_prefix, gpu_fallback, shutdown_budget, max_training_instances,
                      allow_paths, instance_limits)
    record = daemon.up(port, extra_args=[*args, "--verbose"] if verbose else args,
                       shutdown_budget=_shutdown_budget(shutdown_budget))
    word = "already running" if record.get("already_running") else "started"
    click.echo(f"smemu endpoint {word} on {record['url']} (log: {record.get('log', '?')})")
    if record.get("already_running") and bool(keys) != bool(record.get("auth")):
        click.echo("WARNING: the running endpoint " + ("does not check" if keys else "checks")
                   + " signatures, unlike what was asked: `smemu down` it first", err=True)
    if record.get("already_running") and allow_paths:
        click.echo("note: --allow-path takes effect when an endpoint starts; this one keeps "
                   f"the directories it was started with (`smemu down --port {port}`, then "
                   "`smemu up` again, to change them)", err=True)


@cli.command()
@click.option("--port", type=int, default=None,
              help="Stop only the endpoint on this port (default: every background endpoint).")
@clean_errors
def down(port: int | None) -> None:
    """Stop the background endpoint(s): every running job gets StopTrainingJob (within the
    endpoint's shutdown budget), its uploads finish, its state is saved."""
    stopped = daemon.down(port)
    if stopped:
        click.echo("stopped " + ", ".join(f"the endpoint on port {p}" for p in stopped))
    else:
        click.echo("no background endpoint was running")


@cli.command()
@click.option("--port", type=int, default=None,
              help="Ask only the endpoint on this port (default: list every running endpoint).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@clean_errors
def status(port: int | None, as_json: bool) -> None:
    """Which endpoints run, and where (exit 1 when none does)."""
    if port is not None:
        info = daemon.status(port)
        if as_json:
            click.echo(json.dumps(info, indent=2, default=str))
        elif not info["running"]:
            click.echo(f"not running ({info['url']} does not answer)")
        else:
            click.echo(_running_line(info))
        raise SystemExit(0 if info["running"] else 1)
    running = daemon.running_endpoints()
    if as_json:
        click.echo(json.dumps({"running": bool(running), "endpoints": running}, indent=2,
                              default=str))
    elif running:
        click.echo("\n".join(_running_line(info) for info in running))
    else:
        click.echo(f"no endpoint is running (none recorded in {daemon.state_dir()}, and "
                   f"{daemon.default_endpoint_url(contract.DEFAULT_PORT)} does not answer)")
    raise SystemExit(0 if running else 1)


def _running_line(info: dict[str, Any]) -> str:
    return (f"running on {info['url']} (pid {info.get('pid', '?')}, "
            f"server {info.get('server_id', '?')})")


@cli.command()
@clean_errors
def cleanup() -> None:
    """Remove the containers, networks and work directories of endpoints that are gone
    (crashed or killed); a live endpoint's are never touched."""
    from emulator.runtime.owners import is_orphan, work_dir_orphaned

    root = daemon.state_dir()
    # The recorded background endpoints, and a `smemu serve` on the default port.
    live = {str(info["server_id"]) for info in daemon.running_endpoints(root)
            if info.get("server_id")}
    removed = DockerEngine().remove_orphans(lambda labels: is_orphan(labels, live))
    click.echo(f"removed {len(removed['containers'])} container(s), "
               f"{len(removed['networks'])} network(s) left by endpoints that are gone")
    work = root / "work"
    for server_dir in sorted(work.iterdir()) if work.is_dir() else []:
        orphaned = work_dir_orphaned(server_dir, live)
        if orphaned is False:
            continue
        unsaved = [p for p in server_dir.glob("*/attempt-*/*/checkpoints/**/*") if p.is_file()]
        if unsaved:
            # Never lose a checkpoint: the next endpoint on this state directory uploads them.
            click.echo(f"kept {server_dir}: {len(unsaved)} checkpoint file(s) of a crashed "
                       "endpoint's jobs; start smemu on this state directory to upload them")
        elif orphaned is None:
            click.echo(f"kept {server_dir}: it does not say which endpoint owns it")
        else:
            import shutil

            shutil.rmtree(server_dir, ignore_errors=True)
            click.echo(f"removed {server_dir}")
