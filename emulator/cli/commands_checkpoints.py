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
from botocore.exceptions import ConnectionError as BotoConnectionError

from emulator.cli.clients import clients, endpoint_s3_url, ensure_endpoint, s3_client
from emulator.cli.follow import emulator_report
from emulator.cli.group import clean_errors, cli
from emulator.errors import EmulatorError, EndpointUnavailable
from emulator.report.units import human_size
from emulator.s3uri import S3Location, parse_s3_uri
from emulator.storage.versions import (
    ObjectVersion,
    UploadRecord,
    attribute,
    bucket_versioning,
    list_versions,
    object_hasher,
    uploads_from_report,
)

endpoint_option = click.option("--endpoint-url", envvar="SMEMU_ENDPOINT_URL",
                               help="The smemu endpoint (default: the local one).")


def _http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/") if value else value


s3_endpoint_option = click.option(
    "--s3-endpoint-url", callback=_http_url,
    help="Read from this S3 server (default: where the endpoint keeps checkpoints: its embedded "
         "S3, or the server it was started with --s3-endpoint-url). With an S3 URI, no smemu "
         "endpoint needs to run.")
MAX_JOBS_SCANNED = 200  # an S3 URI: jobs on the endpoint whose CheckpointConfig matches it


@dataclass
class Target:
    """Where a job's (or a URI's) checkpoints live and who uploaded there."""

    location: S3Location
    s3: Any
    s3_url: str
    uploads: list[UploadRecord]
    jobs: list[str]
    endpoint: str | None  # None: no endpoint asked, so no upload is attributed


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
            if uri and parse_s3_uri(uri, allow_https=True) == loc:
                names.append(name)
    return names


def _endpoint(endpoint_url: str | None, required: bool) -> str | None:
    try:
        return ensure_endpoint(endpoint_url, start=False)
    except EndpointUnavailable:
        if required:
            raise
        return None


def resolve(job_or_uri: str, endpoint_url: str | None, s3_endpoint_url: str | None) -> Target:
    """Find the checkpoint prefix, the S3 server that holds it and the uploads made there.

    A job's checkpoints are on the S3 its endpoint keeps them on (the embedded one, or the
    server given to `smemu serve --s3-endpoint-url`) unless ``s3_endpoint_url`` says otherwise.
    """
    is_uri = "://" in job_or_uri
    loc = parse_s3_uri(job_or_uri) if is_uri else None
    # An S3 URI on a named S3 server needs no endpoint: it only tells who uploaded what.
    url = _endpoint(endpoint_url, required=not (is_uri and s3_endpoint_url))
    jobs: list[str] = []
    if url is not None:
        sagemaker, _, _ = clients(url)
        if loc is None:
            loc = parse_s3_uri(_checkpoint_uri(sagemaker, job_or_uri))
            jobs = [job_or_uri]
        else:
            jobs = _jobs_using(sagemaker, loc)
    assert loc is not None
    uploads = [u for job in jobs for u in uploads_from_report(job, emulator_report(str(url), job))]
    s3_url = s3_endpoint_url or endpoint_s3_url(str(url))
    s3 = s3_client(s3_url, str(url))
    _check_bucket(s3, s3_url, loc, job=None if is_uri else job_or_uri,
                  explicit=bool(s3_endpoint_url))
    return Target(loc, s3, s3_url, uploads, jobs, url)


def _check_bucket(s3: Any, s3_url: str, loc: S3Location, *, job: str | None,
                  explicit: bool) -> None:
    try:
        s3.head_bucket(Bucket=loc.bucket)
    except BotoConnectionError as err:
        where = "" if explicit or job is None else \
            f" (where the endpoint keeps the checkpoints of {job!r}; --s3-endpoint-url " \
            "reads them from another address)"
        raise EmulatorError(f"no S3 server answers at {s3_url}{where}") from err
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise EmulatorError(f"the S3 server at {s3_url} refuses access to bucket "
                                f"{loc.bucket!r} ({code})") from err
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise EmulatorError(f"bucket {loc.bucket!r} of {loc.uri} does not exist on the S3 "
                                f"server at {s3_url}") from err
        raise


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def _who(version: ObjectVersion, several_jobs: bool) -> str:
    if version.upload is None:
        return "-"
    if several_jobs:
        return f"{version.upload.job}#{version.upload.attempt}"
    return str(version.upload.attempt)


@cli.group()
def checkpoints() -> None:
    """Browse the checkpoint files of a job (or any S3 prefix) and their versions."""


@checkpoints.command("ls")
@click.argument("job_or_uri", metavar="JOB_OR_S3_URI")
@click.option("--versions", is_flag=True,
              help="Every stored version (and deletion), oldest first, not just the current files.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@endpoint_option
@s3_endpoint_option
@clean_errors
def ls(job_or_uri: str, versions: bool, as_json: bool, endpoint_url: str | None,
       s3_endpoint_url: str | None) -> None:
    """List checkpoint files with size, time and the attempt that uploaded each.

    JOB_OR_S3_URI is a training job name (its CheckpointConfig.S3Uri is used) or an s3:// URI.
    """
    target = resolve(job_or_uri, endpoint_url, s3_endpoint_url)
    found, versioned = list_versions(target.s3, target.location)
    if versions:
        _need_versions(target, versioned)
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
    if target.endpoint is None:
        click.echo("(no smemu endpoint answers: no upload is attributed to an attempt)", err=True)
    several = len(target.jobs) > 1
    who_width = max([7] + [len(_who(v, several)) for v in shown])
    path_width = max([4] + [len(v.path) for v in shown])
    if versions:
        click.echo(f"{'PATH':<{path_width}}  {'SIZE':>10}  {'LAST MODIFIED':<19}  "
                   f"{'ATTEMPT':<{who_width}}  VERSION ID")
        for v in shown:
            size = "(deleted)" if v.delete_marker else human_size(v.size)
            latest = "  (current)" if v.is_latest and not v.delete_marker else ""
            click.echo(f"{v.path:<{path_width}}  {size:>10}  {_when(v.last_modified):<19}  "
                       f"{_who(v, several):<{who_width}}  {v.version_id or '-'}{latest}")
    else:
        click.echo(f"{'PATH':<{path_width}}  {'SIZE':>10}  {'LAST MODIFIED':<19}  ATTEMPT")
        for v in shown:
            click.echo(f"{v.path:<{path_width}}  {human_size(v.size):>10}  "
                       f"{_when(v.last_modified):<19}  {_who(v, several)}")


def _need_versions(target: Target, versioned: bool) -> None:
    """Versions asked for: refuse a server without them, warn about a bucket that keeps none."""
    if not versioned:
        raise EmulatorError(f"the S3 server at {target.s3_url} keeps no object versions (it does "
                            "not implement ListObjectVersions): only current files, without "
                            "--versions/--version")
    if bucket_versioning(target.s3, target.location.bucket) != "Enabled":
        click.echo(f"(versioning is not enabled on bucket {target.location.bucket!r} at "
                   f"{target.s3_url}: each upload replaced the one before)", err=True)


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
@s3_endpoint_option
@clean_errors
def get(job_or_uri: str, path: str, version_id: str | None, output: Path | None,
        endpoint_url: str | None, s3_endpoint_url: str | None) -> None:
    """Fetch one checkpoint file (PATH relative to the checkpoint prefix)."""
    path = path.strip("/")
    if not path:
        raise EmulatorError("PATH must name a file under the checkpoint prefix")
    target = resolve(job_or_uri, endpoint_url, s3_endpoint_url)
    if version_id:
        # Some servers ignore a VersionId on HEAD and refuse it on GET: ask first.
        _need_versions(target, list_versions(target.s3, target.location)[1])
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
            click.echo(f"wrote {output} ({human_size(written)})", err=True)
    finally:
        body.close()


def _copy(body: Any, out: BinaryIO) -> int:
    written = 0
    while chunk := body.read(1024 * 1024):
        out.write(chunk)
        written += len(chunk)
    return written
