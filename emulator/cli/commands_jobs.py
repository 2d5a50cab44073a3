"""smemu jobs list / describe / stop / delete / interrupt, and smemu logs."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import click

from emulator.auth.signing import signed_request
from emulator.cli.clients import clients, ensure_endpoint
from emulator.cli.follow import emulator_report, render_summary, transition_line
from emulator.cli.group import clean_errors, cli
from emulator.cli.report_file import write_report
from emulator.errors import EmulatorError
from emulator.storage.logs import LogTail

endpoint_option = click.option("--endpoint-url", envvar="SMEMU_ENDPOINT_URL",
                               help="The smemu endpoint (default: the local one).")
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=lambda v: v.isoformat()
                          if hasattr(v, "isoformat") else str(v)))


@cli.group()
def jobs() -> None:
    """Inspect and control training jobs on the endpoint."""


@jobs.command("list")
@endpoint_option
@json_option
@click.option("--status", "status_equals", help="StatusEquals filter.")
@click.option("--name-contains", help="NameContains filter.")
@clean_errors
def list_jobs(endpoint_url: str | None, as_json: bool, status_equals: str | None,
              name_contains: str | None) -> None:
    """List the training jobs, newest first.

    ListTrainingJobs on the endpoint, every page."""
    sagemaker, _, _ = clients(ensure_endpoint(endpoint_url, start=False))
    params: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending"}
    if status_equals:
        params["StatusEquals"] = status_equals
    if name_contains:
        params["NameContains"] = name_contains
    summaries = [s for page in sagemaker.get_paginator("list_training_jobs").paginate(**params)
                 for s in page["TrainingJobSummaries"]]
    if as_json:
        _dump({"TrainingJobSummaries": summaries})
        return
    click.echo(f"{'NAME':<50} {'STATUS':<11} {'SECONDARY':<20} CREATED")
    for s in summaries:
        click.echo(f"{s['TrainingJobName']:<50} {s['TrainingJobStatus']:<11} "
                   f"{s['SecondaryStatus']:<20} {s['CreationTime']:%Y-%m-%d %H:%M:%S}")


@jobs.command("describe")
@click.argument("job_name")
@endpoint_option
@json_option
@click.option("--attempts", is_flag=True, help="Also show the per-attempt history.")
@clean_errors
def describe_job(job_name: str, endpoint_url: str | None, as_json: bool, attempts: bool) -> None:
    """Show a job's transitions and summary.

    DescribeTrainingJob with smemu's report: attempts, interruptions, billing, flags."""
    url = ensure_endpoint(endpoint_url, start=False)
    sagemaker, _, _ = clients(url)
    job = sagemaker.describe_training_job(TrainingJobName=job_name)
    job.pop("ResponseMetadata", None)
    report = emulator_report(url, job_name)
    if as_json:
        _dump({**job, "SmemuReport": report})
        return
    for transition in job.get("SecondaryStatusTransitions", []):
        click.echo(transition_line(transition))
    click.echo(render_summary(job, report, detail=attempts))


@jobs.command("report")
@click.argument("job_name")
@endpoint_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here (default: JOB_NAME.html; - for standard output).")
@clean_errors
def report_job(job_name: str, endpoint_url: str | None, output: Path | None) -> None:
    """Write a job's report as one self-contained HTML file.

    Its timeline (attempts per host, interruptions, grace windows, uploads, restores, lost
    work), the attempt table with flags, checkpoint versions, billing, settings and logs. Jobs
    of earlier endpoint runs too, when the endpoint keeps its history (a state directory)."""
    url = ensure_endpoint(endpoint_url, start=False)
    write_report(url, job_name, output or Path(f"{job_name}.html"))


@jobs.command("stop")
@click.argument("job_name")
@endpoint_option
@clean_errors
def stop_job(job_name: str, endpoint_url: str | None) -> None:
    """Stop a running job.

    StopTrainingJob: SIGTERM, the grace period, SIGKILL; the model is still uploaded."""
    sagemaker, _, _ = clients(ensure_endpoint(endpoint_url, start=False))
    sagemaker.stop_training_job(TrainingJobName=job_name)
    click.echo(f"stopping {job_name}")


@jobs.command("delete")
@click.argument("job_name")
@endpoint_option
@clean_errors
def delete_job(job_name: str, endpoint_url: str | None) -> None:
    """Delete a finished job (Completed, Failed or Stopped): its name can be used again."""
    sagemaker, _, _ = clients(ensure_endpoint(endpoint_url, start=False))
    sagemaker.delete_training_job(TrainingJobName=job_name)
    click.echo(f"deleted {job_name}")


@jobs.command("interrupt")
@click.argument("job_name")
@endpoint_option
@clean_errors
def interrupt_job(job_name: str, endpoint_url: str | None) -> None:
    """Inject a spot interruption into a running managed-spot job now."""
    url = ensure_endpoint(endpoint_url, start=False)
    request = signed_request(f"{url}/_smemu/jobs/{job_name}/interrupt", method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as err:
        body = json.loads(err.read() or b"{}")
        raise EmulatorError(f"{body.get('__type', err.code)}: {body.get('message', '')}") from err
    click.echo(f"interrupted {job_name}")


@cli.command()
@click.argument("job_name")
@endpoint_option
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the job ends.")
@clean_errors
def logs(job_name: str, endpoint_url: str | None, follow: bool) -> None:
    """Print the container output of a job (CloudWatch Logs on the endpoint)."""
    sagemaker, logs_client, _ = clients(ensure_endpoint(endpoint_url, start=False))
    job = sagemaker.describe_training_job(TrainingJobName=job_name)  # clear error if unknown
    tail = LogTail(logs_client, job_name)
    several_hosts = (job.get("ResourceConfig") or {}).get("InstanceCount", 1) > 1

    def show(stream: str, message: str, _at: float) -> None:
        # Streams are <job>/algo-<n>-<epoch>: name the host when there are several.
        host = stream.split("/", 1)[-1].rsplit("-", 1)[0]
        click.echo(f"[{host}] {message}" if several_hosts else message)

    while True:
        tail.poll(show)
        if not follow:
            return
        status = sagemaker.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
        if status in ("Completed", "Failed", "Stopped"):
            tail.poll(show)
            return
        time.sleep(0.5)
