"""smemu checkpoints ls / get: browse a job's checkpoint files and every uploaded version."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import click
from botocore.exceptions import ClientError

from emulator.checkpoints.s3path import S3Location, parse_s3_uri
from emulator.cli import clean_errors, cli
from emulator.cli.clients import clients, ensure_endpoint
from emulator.cli.follow import emulator_report
from emulator.errors import EmulatorError
from emulator.storage.versions import (
    ObjectVersion,
    UploadRecord,
    attribute,
    list_versions,
    object_hasher,
    uploads_from_report,
)

endpoint_option = click.option("--endpoint-url", envvar="SMEMU_ENDPOINT_URL",
                               help="The smemu endpoint (default: the local one).")
MAX_JOBS_SCANNED = 200  # an S3 URI: jobs on the endpoint whose CheckpointConfig matches it


@dataclass
class Target:
    """Where a job's (or a URI's) checkpoints live and who uploaded there."""

    location: S3Location
    s3: Any
    uploads: list[UploadRecord]
    jobs: list[str]


def _checkpoint_uri(sagemaker: Any, job: str) -> str:
    try:
        described = sagemaker.describe_training_job(TrainingJobName=job)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("ValidationException",
                                                           "ResourceNotFound"):
            raise EmulatorError(f"no training job named {job!r} on this endpoint") from err
        raise
    uri = (described.get("CheckpointConfig") or {}).get("S3Uri")
    if not uri:
        raise EmulatorError(f"training job {job!r} has no CheckpointConfig: it keeps no "
                            "checkpoints in S3")
    return str(uri)


def _jobs_using(sagemaker: Any, loc: S3Location) -> list[str]:
    names: list[str] = []
    scanned = 0
    for page in sagemaker.get_paginator("list_training_jobs").paginate(
            SortBy="CreationTime", SortOrder="Ascending"):
        for summary in page["TrainingJobSummaries"]:
            scanned += 1
            if scanned > MAX_JOBS_SCANNED:
                return names
            name = summary["TrainingJobName"]
            job = sagemaker.describe_training_job(TrainingJobName=name)
            uri = (job.get("CheckpointConfig") or {}).get("S3Uri")
            if uri and parse_s3_uri(uri) == loc:
                names.append(name)
    return names


def resolve(job_or_uri: str, endpoint_url: str | None) -> Target:
    url = ensure_endpoint(endpoint_url, start=False)
    sagemaker, _, s3 = clients(url)
    if job_or_uri.startswith("s3://"):
        loc = parse_s3_uri(job_or_uri)
        jobs = _jobs_using(sagemaker, loc)
    else:
        loc = parse_s3_uri(_checkpoint_uri(sagemaker, job_or_uri))
        jobs = [job_or_uri]
    uploads = [u for job in jobs for u in uploads_from_report(job, emulator_report(url, job))]
    try:
        s3.head_bucket(Bucket=loc.bucket)
    except ClientError as err:
        raise EmulatorError(f"bucket {loc.bucket!r} of {loc.uri} does not exist") from err
    return Target(loc, s3, uploads, jobs)


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _who(version: ObjectVersion, several_jobs: bool) -> str:
    if version.upload is None:
        return "-"
    if several_jobs:
        return f"{version.upload.job}#{version.upload.attempt}"
    return str(version.upload.attempt)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


@cli.group()
def checkpoints() -> None:
    """Browse the checkpoint files of a job (or any S3 prefix) and their versions."""


@checkpoints.command("ls")
@click.argument("job_or_uri", metavar="JOB_OR_S3_URI")
@click.option("--versions", is_flag=True,
              help="Every stored version (and deletion), oldest first, not just the current files.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@endpoint_option
@clean_errors
def ls(job_or_uri: str, versions: bool, as_json: bool, endpoint_url: str | None) -> None:
    """List checkpoint files with size, time and the attempt that uploaded each.

    JOB_OR_S3_URI is a training job name (its CheckpointConfig.S3Uri is used) or an s3:// URI.
    """
    target = resolve(job_or_uri, endpoint_url)
    found, versioned = list_versions(target.s3, target.location)
    found = attribute(found, target.uploads, hasher=object_hasher(target.s3,
                                                                  target.location.bucket))
    shown = found if versions else [v for v in found if v.is_latest and not v.delete_marker]
    if as_json:
        click.echo(json.dumps({"S3Uri": target.location.uri, "Jobs": target.jobs,
                               "Versioned": versioned,
                               "Files" if not versions else "Versions":
                                   [v.to_json() for v in shown]}, indent=2))
        return
    if not shown:
        click.echo(f"no checkpoint files under {target.location.uri}", err=True)
        return
    several = len(target.jobs) > 1
    who_width = max([7] + [len(_who(v, several)) for v in shown])
    path_width = max([4] + [len(v.path) for v in shown])
    if versions:
        click.echo(f"{'PATH':<{path_width}}  {'SIZE':>10}  {'LAST MODIFIED':<19}  "
                   f"{'ATTEMPT':<{who_width}}  VERSION ID")
        for v in shown:
            size = "(deleted)" if v.delete_marker else _size(v.size)
            latest = "  (current)" if v.is_latest and not v.delete_marker else ""
            click.echo(f"{v.path:<{path_width}}  {size:>10}  {_when(v.last_modified):<19}  "
                       f"{_who(v, several):<{who_width}}  {v.version_id or '-'}{latest}")
        if not versioned:
            click.echo("(this S3 server keeps no versions: only current files are listed)",
                       err=True)
    else:
        click.echo(f"{'PATH':<{path_width}}  {'SIZE':>10}  {'LAST MODIFIED':<19}  ATTEMPT")
        for v in shown:
            click.echo(f"{v.path:<{path_width}}  {_size(v.size):>10}  "
                       f"{_when(v.last_modified):<19}  {_who(v, several)}")


def _head(target: Target, path: str, version: str | None) -> dict[str, Any]:
    key = target.location.key_for(path)
    kwargs: dict[str, Any] = {"Bucket": target.location.bucket, "Key": key}
    if version:
        kwargs["VersionId"] = version
    try:
        return dict(target.s3.head_object(**kwargs))
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if version and code in ("400", "404", "NoSuchVersion", "InvalidArgument", "NoSuchKey"):
            known = [v.version_id for v in list_versions(target.s3, target.location)[0]
                     if v.path == path and not v.delete_marker]
            if not known:
                raise EmulatorError(
                    f"no checkpoint file {path!r} under {target.location.uri}") from err
            raise EmulatorError(f"{path!r} has no version {version!r} (known: "
                                f"{', '.join(str(k) for k in known)})") from err
        if code in ("404", "NoSuchKey"):
            deleted = any(v.path == path for v in list_versions(target.s3, target.location)[0])
            hint = " (deleted; older versions: smemu checkpoints ls --versions)" if deleted \
                else ""
            raise EmulatorError(
                f"no checkpoint file {path!r} under {target.location.uri}{hint}") from err
        raise


@checkpoints.command("get")
@click.argument("job_or_uri", metavar="JOB_OR_S3_URI")
@click.argument("path")
@click.option("--version", "version_id",
              help="A VersionId from `ls --versions` (default: the current one).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output).")
@endpoint_option
@clean_errors
def get(job_or_uri: str, path: str, version_id: str | None, output: Path | None,
        endpoint_url: str | None) -> None:
    """Fetch one checkpoint file (PATH relative to the checkpoint prefix)."""
    target = resolve(job_or_uri, endpoint_url)
    path = path.strip("/")
    if not path:
        raise EmulatorError("PATH must name a file under the checkpoint prefix")
    _head(target, path, version_id)
    kwargs: dict[str, Any] = {"Bucket": target.location.bucket,
                              "Key": target.location.key_for(path)}
    if version_id:
        kwargs["VersionId"] = version_id
    body = target.s3.get_object(**kwargs)["Body"]
    try:
        if output is None:
            _copy(body, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            partial = output.with_name(output.name + ".smemu-partial")
            with partial.open("wb") as fh:
                written = _copy(body, fh)
            partial.replace(output)
            click.echo(f"wrote {output} ({_size(written)})", err=True)
    finally:
        body.close()


def _copy(body: Any, out: BinaryIO) -> int:
    written = 0
    while chunk := body.read(1024 * 1024):
        out.write(chunk)
        written += len(chunk)
    return written
