"""The read-only browser view at /_smemu/ui/: the jobs list, each job's live report, its logs per
host and attempt, and its checkpoint files with a download of every version.

Pages are rendered by `emulator.report` from the job service's own answers; nothing here
changes a job. Only GET and HEAD are served.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import BotoCoreError, ClientError
from werkzeug.wrappers import Request, Response

from emulator.contract import TERMINAL_STATUSES
from emulator.errors import AwsError
from emulator.jobs.service import JobService
from emulator.report.gather import gather_story, job_logs
from emulator.report.html_views import (
    UI_PREFIX,
    job_content,
    job_page,
    jobs_list_content,
    jobs_list_page,
    log_content,
    log_page,
    log_url,
    not_found_page,
)
from emulator.s3uri import parse_s3_uri

MAX_LISTED = 500  # jobs in the list, newest first
_CHUNK = 1 << 20


class BrowserView:
    def __init__(self, service: JobService) -> None:
        self.service = service
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _html(not_found_page("the browser view is read-only"), 405,
                         {"Allow": "GET, HEAD"})
        path = request.path[len(UI_PREFIX):]
        fragment = request.args.get("fragment") == "1"
        parts = [unquote(p) for p in path.split("/") if p]
        try:
            if not parts:
                return self._jobs(fragment)
            if parts[0] == "jobs" and len(parts) == 2:
                return self._job(parts[1], fragment)
            if parts[0] == "jobs" and len(parts) == 3 and parts[2] == "checkpoint":
                return self._checkpoint(parts[1], request.args.get("path", ""),
                                        request.args.get("versionId"))
            if parts[0] == "logs" and len(parts) >= 3:
                return self._log("/".join(parts[1:]), fragment)
        except AwsError as err:
            return _html(not_found_page(err.message), 404 if err.status < 500 else err.status)
        return _html(not_found_page(f"nothing at {request.path}"), 404)

    # -- pages ------------------------------------------------------------------
    def _jobs(self, fragment: bool) -> Response:
        summaries = self.service.list_training_jobs(
            {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100})
        jobs: list[dict[str, Any]] = []
        while True:
            for summary in summaries["TrainingJobSummaries"]:
                try:
                    report = self.service.emulator_report(summary["TrainingJobName"])
                except AwsError:  # deleted since it was listed
                    continue
                jobs.append({**summary, "Attempts": len(report["Attempts"]),
                             "Interruptions": report["Interruptions"]})
            token = summaries.get("NextToken")
            if not token or len(jobs) >= MAX_LISTED:
                break
            summaries = self.service.list_training_jobs(
                {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": 100,
                 "NextToken": token})
        return _html(jobs_list_content(jobs) if fragment else jobs_list_page(jobs))

    def _job(self, name: str, fragment: bool) -> Response:
        describe = self.service.describe_training_job({"TrainingJobName": name})
        report = self.service.emulator_report(name)
        story = gather_story(describe, report, s3=self._client("s3"), logs=self._client("logs"),
                             log_link=log_url)
        return _html(job_content(story) if fragment else job_page(story))

    def _log(self, stream: str, fragment: bool) -> Response:
        job = stream.split("/", 1)[0]
        describe = self.service.describe_training_job({"TrainingJobName": job})
        lines = job_logs(self._client("logs"), job).get(stream)
        if lines is None:
            return _html(not_found_page(f"job {job} has no log stream {stream}"), 404)
        finished = describe["TrainingJobStatus"] in {s.value for s in TERMINAL_STATUSES}
        content = log_content(stream, lines, finished)
        return _html(content if fragment else log_page(job, stream, lines, finished))

    def _checkpoint(self, name: str, path: str, version_id: str | None) -> Response:
        """One checkpoint file's version, as a download: only under the job's own prefix."""
        describe = self.service.describe_training_job({"TrainingJobName": name})
        uri = (describe.get("CheckpointConfig") or {}).get("S3Uri")
        path = path.strip("/")
        if not uri or not path or ".." in path.split("/"):
            return _html(not_found_page(f"job {name} has no checkpoint file {path!r}"), 404)
        location = parse_s3_uri(uri, allow_https=True)
        kwargs: dict[str, Any] = {"Bucket": location.bucket, "Key": location.key_for(path)}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            answer = self._client("s3").get_object(**kwargs)
        except (ClientError, BotoCoreError) as err:
            return _html(not_found_page(f"checkpoint file {path!r} of {name}: {err}"), 404)
        body = answer["Body"]

        def stream() -> Any:
            try:
                while chunk := body.read(_CHUNK):
                    yield chunk
            finally:
                body.close()

        filename = path.rsplit("/", 1)[-1].replace('"', "")
        response = Response(stream(), content_type="application/octet-stream",
                            direct_passthrough=True)
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        if answer.get("ContentLength") is not None:
            response.headers["Content-Length"] = str(answer["ContentLength"])
        return response

    def _client(self, service: str) -> Any:
        """One client per service for the view (boto3 clients are thread-safe): checkpoints
        where the jobs keep them, logs on the endpoint itself."""
        with self._lock:
            if service not in self._clients:
                endpoint = self.service.ctx.s3 if service == "s3" else self.service.ctx.logs
                self._clients[service] = endpoint.client(
                    service, retries={"max_attempts": 2}, connect_timeout=5, read_timeout=30)
            return self._clients[service]


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    response = Response(text, status=status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
