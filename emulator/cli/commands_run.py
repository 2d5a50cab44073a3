"""smemu run: create a training job on the endpoint and follow it to its end."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from emulator.cli.auth_options import auth_options, keys_from_options, use_keys_in_this_process
from emulator.cli.botocore_models import enum_values
from emulator.cli.byo import PROGRAM_ENV, code_mount, training_image
from emulator.cli.clients import clients, endpoint_s3_url, ensure_endpoint_health
from emulator.cli.flush_watch import FlushWatch
from emulator.cli.follow import (
    ChangeWaiter,
    FollowState,
    emulator_report,
    follow,
    render_summary,
)
from emulator.cli.group import clean_errors, cli
from emulator.cli.progress import StatusProgress, compact_timeline, is_terminal
from emulator.errors import PlanError
from emulator.faults.catalog import interrupt_help
from emulator.faults.plan import InterruptionPlan, load_plan_file, parse_duration, parse_plan
from emulator.faults.s3_spec import S3FaultSpec, parse_s3_faults
from emulator.jobs.host_paths import ALLOW_FLAG, named_paths
from emulator.jobs.instance_limits import InstanceLimits, parse_instance_limits
from emulator.jobs.request import (
    RunOptions,
    build_request,
    load_request_file,
    parse_pairs,
    request_buckets,
)
from emulator.jobs.settings import (
    DEFAULT_CODE_PATH,
    FLUSH_MODES,
    GPU_FALLBACKS,
    PREFIX_MODES,
    CheckpointFlush,
    CheckpointPrefix,
    GpuFallback,
    JobSettings,
)
from emulator.storage.s3 import S3Endpoint, bucket_answers, ensure_bucket


@cli.command()
@click.option("--image", help="Training image (must exist in the local Docker engine; with "
                               "--build, the tag to give the image built).")
@click.option("--build", type=click.Path(path_type=Path, file_okay=False),
              help="Build the training image from DIR/Dockerfile first (offline: on "
                   "smemu-base when the Dockerfile's ARG BASE_IMAGE is not local); an "
                   "unchanged DIR is not built again.")
@click.option("--code", type=click.Path(path_type=Path, file_okay=False),
              help="Mount DIR read-only at /opt/ml/code (see --code-path) in every container: "
                   "edit, run again, no rebuild. Without --image/--build: script mode on "
                   "smemu-toolkit-trainer.")
@click.option("--code-path", default=DEFAULT_CODE_PATH, show_default=True,
              help="Where --code DIR is mounted in the containers.")
@click.option("--entry-point", metavar="FILE",
              help="The script in --code DIR to run (sets SAGEMAKER_PROGRAM, the "
                   "sagemaker-training toolkit's entry point).")
@click.option("--job-name", help="TrainingJobName (generated from the image when absent).")
@click.option("-H", "--hyperparameter", "hyperparameters", multiple=True, metavar="K=V")
@click.option("-e", "--env", "environment", multiple=True, metavar="K=V")
@click.option("--output-path", help="S3OutputPath (default: the SDK's default bucket).")
@click.option("--checkpoint-s3-uri", help="CheckpointConfig.S3Uri")
@click.option("--checkpoint-local-path", help="CheckpointConfig.LocalPath (/opt/ml/checkpoints)")
@click.option("--instance-type", help="ResourceConfig.InstanceType (default ml.m5.large)")
@click.option("--instance-count", type=click.IntRange(1),
              help="ResourceConfig.InstanceCount: hosts algo-1..algo-N, one container each "
                   "(default 1)")
@click.option("--max-run", type=int, help="StoppingCondition.MaxRuntimeInSeconds")
@click.option("--spot", is_flag=True, help="EnableManagedSpotTraining")
@click.option("--max-wait", type=int, help="StoppingCondition.MaxWaitTimeInSeconds")
@click.option("--interrupt", "interrupts", multiple=True, metavar="TRIGGER",
              help=interrupt_help())
@click.option("--interrupt-plan", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Interruption plan file (YAML or JSON list of triggers).")
@click.option("--grace-period", help="SIGTERM->SIGKILL window, e.g. 120s (0 = hard kill).")
@click.option("--checkpoint-flush", type=click.Choice(FLUSH_MODES),
              help="After a kill: upload what is left (flush) or lose it (lose).")
@click.option("--checkpoint-markers/--no-checkpoint-markers", default=None,
              help="Write <file>.sagemaker-uploading/.sagemaker-uploaded beside each uploaded "
                   "checkpoint file (default: the endpoint's setting, on).")
@click.option("--checkpoint-prefix", type=click.Choice(PREFIX_MODES),
              help="How a checkpoint S3Uri without a trailing / restores: every key starting "
                   "with it, sibling prefixes too, as SageMaker does (string), or only the "
                   "keys under it (directory). Default: the endpoint's setting, string.")
@click.option("--gpu-fallback", type=click.Choice(GPU_FALLBACKS),
              help="A ml.g*/ml.p* job on an engine without the NVIDIA runtime: run it on CPU, "
                   "flagged (cpu), or refuse it (refuse). Default: the endpoint's, cpu.")
@click.option("--s3-faults", metavar="SPEC",
              help="Make S3 misbehave for this job, e.g. 'errors=20% seed=7 latency=200ms "
                   "outage=30s+10s bandwidth=20MiB/s scope=mirror|container|all' (default "
                   "scope mirror: smemu's own checkpoint and model traffic).")
@click.option("--s3-wait", metavar="DURATION",
              help="How long a flush, restore or model upload goes on retrying while S3 fails "
                   "before the job fails (default 120s).")
@click.option("--instance-limits", metavar="off|full|scaled:F",
              help="CPU and memory limits from the instance type, per host: none (off), the "
                   "type's vCPUs and memory (full), or those times F for a laptop (e.g. "
                   "scaled:0.25). Default: the endpoint's, off.")
@click.option("--request", "request_file", type=click.Path(path_type=Path, dir_okay=False),
              help="A CreateTrainingJob JSON (as `aws sagemaker create-training-job "
                   "--cli-input-json` takes); flags override it.")
@click.option("--endpoint-url", envvar="SMEMU_ENDPOINT_URL",
              help="The smemu endpoint (default: the local one, started when not running).")
@click.option("--no-create-buckets", is_flag=True,
              help="Do not create missing buckets on the endpoint's S3 (embedded, or "
                   "the one it was started with --s3-endpoint-url).")
@click.option("--compare-uninterrupted", is_flag=True,
              help="Also run the same request with no interruption plan (as NAME-uninterrupted, "
                   "on a checkpoint prefix of its own), then compare the two models file by "
                   "file (sha256) and their final metrics: 'identical' or what differs. Exit "
                   "code 1 when they differ.")
@click.option("--report", "report_file", type=click.Path(path_type=Path, dir_okay=False),
              help="When the job ends, write its HTML report to this file (self-contained: "
                   "timeline, attempts, checkpoints, billing, logs).")
@click.option("--detach", is_flag=True, help="Return once the job is created.")
@click.option("--no-logs", is_flag=True, help="Do not stream the container's output.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the final DescribeTrainingJob response (and nothing else on stdout).")
@auth_options
@clean_errors
def run(image: str | None, build: Path | None, code: Path | None, code_path: str,
        entry_point: str | None, job_name: str | None, hyperparameters: tuple[str, ...],
        environment: tuple[str, ...], output_path: str | None, checkpoint_s3_uri: str | None,
        checkpoint_local_path: str | None, instance_type: str | None,
        instance_count: int | None, max_run: int | None,
        spot: bool, max_wait: int | None, interrupts: tuple[str, ...],
        interrupt_plan: Path | None, grace_period: str | None,
        checkpoint_flush: str | None, checkpoint_markers: bool | None,
        checkpoint_prefix: str | None, gpu_fallback: str | None, s3_faults: str | None,
        s3_wait: str | None, instance_limits: str | None, request_file: Path | None,
        endpoint_url: str | None,
        no_create_buckets: bool, compare_uninterrupted: bool, report_file: Path | None,
        detach: bool, no_logs: bool, as_json: bool, auth: str | None, auth_file: str | None,
        auth_profile: str | None) -> None:
    """Run a training job as SageMaker would, and follow it to its end."""
    use_keys_in_this_process(keys_from_options(auth, auth_file, auth_profile))
    if entry_point is not None and code is None:
        raise click.UsageError("--entry-point names a script in --code DIR: add --code")
    env = parse_pairs(environment, "--env")
    image = training_image(image or _request_image(request_file), build, code, quiet=as_json)
    mount = None if code is None or image is None else \
        code_mount(code, code_path, entry_point, image, env)
    if mount is not None and mount.entry_point:
        env[PROGRAM_ENV] = mount.entry_point
    defaults = JobSettings()
    plan = load_plan_file(interrupt_plan) if interrupt_plan else defaults.plan
    if interrupts:
        plan = InterruptionPlan(plan.triggers + parse_plan(interrupts).triggers)
    settings = JobSettings(
        plan=plan,
        grace_period=parse_duration(grace_period) if grace_period else defaults.grace_period,
        checkpoint_flush=CheckpointFlush(checkpoint_flush) if checkpoint_flush
        else defaults.checkpoint_flush,
        checkpoint_markers=defaults.checkpoint_markers if checkpoint_markers is None
        else checkpoint_markers,
        checkpoint_prefix=CheckpointPrefix(checkpoint_prefix or defaults.checkpoint_prefix),
        gpu_fallback=GpuFallback(gpu_fallback or defaults.gpu_fallback),
        instance_limits=_instance_limits(instance_limits) if instance_limits
        else defaults.instance_limits,
        code_dir=None if mount is None else mount.host_dir,
        code_path=code_path,
        s3_faults=_s3_faults(s3_faults) if s3_faults else defaults.s3_faults,
        s3_wait=parse_duration(s3_wait) if s3_wait else defaults.s3_wait,
    )
    options = RunOptions(
        image=image, job_name=job_name,
        hyperparameters=parse_pairs(hyperparameters, "--hyperparameter"),
        environment=env, output_path=output_path,
        checkpoint_s3_uri=checkpoint_s3_uri, checkpoint_local_path=checkpoint_local_path,
        instance_type=instance_type, instance_count=instance_count, max_run=max_run,
        spot=spot, max_wait=max_wait,
        request_file=request_file,
    )
    explicit = [name for name, given in (("grace_period", grace_period),
                                         ("checkpoint_flush", checkpoint_flush),
                                         ("checkpoint_markers", checkpoint_markers is not None),
                                         ("checkpoint_prefix", checkpoint_prefix),
                                         ("gpu_fallback", gpu_fallback),
                                         ("s3_wait", s3_wait),
                                         ("instance_limits", instance_limits))
                if given]
    request = build_request(options, settings, explicit, enum_values)
    if any(not t.host_failure for t in settings.plan.triggers) and \
            not request.get("EnableManagedSpotTraining"):
        raise click.UsageError("--interrupt needs a managed spot job: add --spot and --max-wait")
    if compare_uninterrupted and detach:
        raise click.UsageError("--compare-uninterrupted compares the jobs at their end: it "
                               "cannot --detach")
    if report_file is not None and detach:
        raise click.UsageError("--report is written when the job ends: it cannot --detach "
                               "(write it later with `smemu jobs report`)")
    twin = None
    if compare_uninterrupted:  # emulator.testing (the endpoint, Docker) only when asked for
        from emulator.testing.jobs import uninterrupted_twin
        twin = uninterrupted_twin(request)
    # An endpoint this command starts may read the host paths it names: they are its user's.
    named = [p.path for p in named_paths(request) if p.path.startswith("/")]
    url, health = ensure_endpoint_health(endpoint_url, allow_paths=named)
    sagemaker, logs, _ = clients(url)
    if not no_create_buckets:
        s3_url = endpoint_s3_url(url, health)  # where the endpoint keeps checkpoints, artifacts
        # The endpoint's own S3 takes its keys; another S3 its $SMEMU_S3_* ones.
        s3 = S3Endpoint.of_endpoint(url) if s3_url == url else S3Endpoint(s3_url)
        for bucket in request_buckets(request):
            # A HEAD answered 200 needs no S3 client; anything else asks one, as before.
            if not bucket_answers(s3, bucket) and ensure_bucket(s3.client("s3"), bucket):
                _say(as_json, f"created bucket s3://{bucket} on {s3_url}")
    name = request["TrainingJobName"]
    arn = _create(sagemaker, request, bool(named) and endpoint_url is None)
    _say(as_json, f"Created training job {name} ({arn}) on {url}")
    if twin is not None:
        sagemaker.create_training_job(**twin)
        _say(as_json, f"Created training job {twin['TrainingJobName']} (the same request, "
                      "no interruption plan, its own checkpoint prefix) to compare with")
    if detach:
        if as_json:
            click.echo(json.dumps({"TrainingJobName": name, "TrainingJobArn": arn}))
        return
    terminal = is_terminal() and not as_json
    progress = StatusProgress() if terminal else None
    flushes = None if as_json else FlushWatch(lambda: emulator_report(url, name), progress)
    job = _follow_with_ctrl_c(sagemaker, logs, name, quiet=as_json, show_logs=not no_logs,
                              progress=progress, on_tick=flushes,
                              wait_for_change=ChangeWaiter(url, name))
    report = emulator_report(url, name)
    comparison = None
    if twin is not None:
        from emulator.cli.compare_run import compare_with_uninterrupted
        comparison = compare_with_uninterrupted(url, job, twin["TrainingJobName"])
    if as_json:
        extra = {} if comparison is None else {"SmemuComparison": comparison.as_json()}
        click.echo(json.dumps({**job, "SmemuReport": report, **extra}, indent=2,
                              default=_json_default))
    else:
        click.echo(render_summary(job, report))
        if terminal:
            from rich.console import Console  # the terminal's timeline only

            console = Console()
            for line in compact_timeline(job, report):
                console.print(line)
        if comparison is not None:
            click.echo(comparison.render())
    if report_file is not None:
        from emulator.cli.report_file import write_report  # the HTML report's modules: --report

        write_report(url, name, report_file, quiet=as_json)
    same = comparison is None or comparison.result == "identical"
    sys.exit(0 if job["TrainingJobStatus"] == "Completed" and same else 1)


def _create(sagemaker: Any, request: dict[str, Any], hint_restart: bool) -> str:
    """CreateTrainingJob; a host path refused by an endpoint started earlier gets a hint."""
    try:
        return str(sagemaker.create_training_job(**request)["TrainingJobArn"])
    except sagemaker.exceptions.ClientError as err:
        message = str(err.response.get("Error", {}).get("Message", ""))
        if hint_restart and ALLOW_FLAG in message:
            click.echo("smemu: the running endpoint was started without this directory; "
                       "`smemu down`, then this command again, starts one that allows the "
                       "paths it names", err=True)
        raise


def _follow_with_ctrl_c(sagemaker: Any, logs: Any, name: str, *, quiet: bool,
                        show_logs: bool, progress: StatusProgress | None = None,
                        on_tick: Callable[[], None] | None = None,
                        wait_for_change: Callable[[float], None] | None = None
                        ) -> dict[str, Any]:
    """Ctrl-C stops the job (StopTrainingJob) and keeps following; a second Ctrl-C detaches."""
    try:
        return _follow_until_done(sagemaker, logs, name, quiet=quiet, show_logs=show_logs,
                                  progress=progress, on_tick=on_tick,
                                  wait_for_change=wait_for_change)
    finally:
        if progress is not None:
            progress.close()  # a detach or an error leaves no bar behind


def _follow_until_done(sagemaker: Any, logs: Any, name: str, *, quiet: bool, show_logs: bool,
                       progress: StatusProgress | None,
                       on_tick: Callable[[], None] | None,
                       wait_for_change: Callable[[float], None] | None) -> dict[str, Any]:
    stopping = False
    state = FollowState(logs, name)
    while True:
        try:
            return follow(sagemaker, logs, name, quiet=quiet, show_logs=show_logs, state=state,
                          progress=progress, on_tick=on_tick, wait_for_change=wait_for_change)
        except KeyboardInterrupt:
            if stopping:
                _detach(name)
            stopping = True
            click.echo(f"\nStopping {name} (Ctrl-C again to detach) ...", err=True)
            try:
                sagemaker.stop_training_job(TrainingJobName=name)
            except sagemaker.exceptions.ClientError as err:
                click.echo(f"smemu: {err}", err=True)
            except KeyboardInterrupt:  # the second Ctrl-C came while the stop was on its way
                _detach(name)


def _detach(name: str) -> NoReturn:
    click.echo(f"\nDetached; job {name} goes on. `smemu jobs describe {name}`", err=True)
    sys.exit(130)


def _instance_limits(text: str) -> InstanceLimits:
    try:
        return parse_instance_limits(text, "--instance-limits")
    except PlanError as err:
        raise click.BadParameter(str(err), param_hint="--instance-limits") from None


def _request_image(request_file: Path | None) -> str | None:
    if request_file is None:
        return None
    image = load_request_file(request_file).get("AlgorithmSpecification", {}).get("TrainingImage")
    return str(image) if image else None


def _say(quiet: bool, message: str) -> None:
    click.echo(message, err=quiet)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _s3_faults(text: str) -> S3FaultSpec:
    try:
        return parse_s3_faults(text)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--s3-faults") from err
