"""Collect a job's story from an endpoint: its description and report, the versions of its
checkpoint files (attributed to the attempts that uploaded them) and its log streams."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from emulator.errors import EmulatorError
from emulator.report.story import JobStory, LogLine, epoch_times
from emulator.s3uri import parse_s3_uri
from emulator.storage.logs import LogTail
from emulator.storage.versions import attribute, list_versions, object_hasher, uploads_from_report


def gather_story(describe: Mapping[str, Any], report: Mapping[str, Any], *,
                 s3: Any | None = None, logs: Any | None = None,
                 endpoint_url: str | None = None,
                 log_link: Callable[[str], str] | None = None) -> JobStory:
    """`s3`: a client of the S3 server holding the job's checkpoints; `logs`: a CloudWatch
    Logs client of the endpoint. What cannot be read is said in the story's notes."""
    described = epoch_times(dict(describe))
    notes: list[str] = []
    versions: list[dict[str, Any]] = []
    versioned = False
    uri = (described.get("CheckpointConfig") or {}).get("S3Uri")
    if uri and s3 is not None:
        try:
            versions, versioned = checkpoint_versions(s3, str(uri), str(
                described.get("TrainingJobName")), report)
        except (ClientError, BotoCoreError, EmulatorError) as err:
            notes.append(f"checkpoint files of {uri} could not be listed: {err}")
    lines: dict[str, list[LogLine]] = {}
    if logs is not None:
        try:
            lines = job_logs(logs, str(described.get("TrainingJobName")))
        except (ClientError, BotoCoreError) as err:
            notes.append(f"logs could not be read: {err}")
    links = {stream: log_link(stream) for stream in lines} if log_link else {}
    return JobStory.of(described, report, versions=versions, versioned=versioned, logs=lines,
                       log_links=links, endpoint_url=endpoint_url, notes=notes)


def checkpoint_versions(s3: Any, uri: str, job: str,
                        report: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Every version of every checkpoint file under `uri`, with the attempt that made it."""
    location = parse_s3_uri(uri, allow_https=True)
    found, versioned = list_versions(s3, location)
    found = attribute(found, uploads_from_report(job, dict(report)),
                      hasher=object_hasher(s3, location.bucket))
    return [v.to_json() for v in found], versioned


def job_logs(logs: Any, job: str) -> dict[str, list[LogLine]]:
    """Every line of every log stream of the job (one per host and attempt)."""
    lines: dict[str, list[LogLine]] = {}

    def collect(stream: str, message: str, at: float) -> None:
        lines.setdefault(stream, []).append(LogLine(at, message))

    LogTail(logs, job).poll(collect)
    return lines
