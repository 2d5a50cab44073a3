"""What the S3 faults did, as the terminal summary, the HTML report and `smemu run` show it;
and the Python API's and the CLI's way to set them."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from emulator.cli import cli
from emulator.cli.follow import render_summary
from emulator.jobs.settings import TAG_S3_FAULTS, TAG_S3_WAIT, settings_from_tags
from emulator.report.html_page import render_report
from emulator.report.s3_faults import fault_summary
from emulator.report.story import JobStory
from emulator.testing.jobs import training_request
from emulator.testing.result import JobResult

GOLDEN = Path(__file__).parent / "data" / "story_spot_two_interruptions.json"
COUNTS = {"requests": 340, "errors": {"SlowDown": 7, "InternalError": 5},
          "outage_refusals": 9, "delay_seconds": 3.25, "retries": 23, "backoff_seconds": 11.5}


def faulted() -> tuple[dict[str, Any], dict[str, Any]]:
    data = copy.deepcopy(json.loads(GOLDEN.read_text()))
    report = data.pop("SmemuReport")
    report["S3Faults"] = dict(COUNTS)
    report["Settings"]["S3Faults"] = "errors=20% seed=7 outage=30s+10s"
    return data, report


def test_the_summary_line_counts_faults_by_kind_retries_and_delay() -> None:
    _, report = faulted()
    line = ("S3 faults: 21 of 340 requests (InternalError 5, SlowDown 7, outage 9); 23 retries, "
            "11.5s waited before them; 3.2s of latency/bandwidth delay")
    assert fault_summary(report) == line
    job, _ = faulted()
    assert f"  {line}" in render_summary(job, report).splitlines()
    del report["S3Faults"]
    assert fault_summary(report) is None and "S3 faults" not in render_summary(job, report)


def test_the_html_report_has_an_s3_faults_section() -> None:
    job, report = faulted()
    html = render_report(JobStory.of(job, report))
    section = re.search(r'<section id="s3-faults">(.*?)</section>', html, re.S)
    assert section is not None
    cells = dict(re.findall(r'data-s3-fault="([^"]+)">([^<]*)<', section.group(1)))
    assert cells == {"Requests": "340", "InternalError (HTTP 500)": "5",
                     "SlowDown (HTTP 503)": "7", "outage (ServiceUnavailable, HTTP 503)": "9",
                     "Retries": "23", "Waited before retries": "11.5 s",
                     "Latency and bandwidth delay": "3.2 s"}
    assert "errors=20% seed=7 outage=30s+10s" in section.group(1)
    del report["S3Faults"]
    assert 'id="s3-faults"' not in render_report(JobStory.of(job, report))


def test_the_python_api_sends_the_faults_as_tags_that_read_back() -> None:
    request = training_request("img:latest", s3_faults="errors=20% seed=7 outage=30s+10s",
                               s3_wait=30)
    tags = {t["Key"]: t["Value"] for t in request["Tags"]}
    assert tags[TAG_S3_FAULTS] == "errors=0.2 seed=7 outage=30s+10s"  # no % in a Tag
    assert tags[TAG_S3_WAIT] == "30s"
    settings = settings_from_tags(request["Tags"])
    assert settings.s3_faults.spec == "errors=20% seed=7 outage=30s+10s"
    assert settings.s3_wait == 30
    plain = {t["Key"] for t in training_request("img:latest").get("Tags", [])}
    assert TAG_S3_FAULTS not in plain and TAG_S3_WAIT not in plain


def test_a_bad_spec_on_the_command_line_is_a_usage_error_naming_the_item() -> None:
    result = CliRunner().invoke(cli, ["run", "--image", "img:latest",
                                      "--s3-faults", "errors=20% latency=soon"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for --s3-faults: invalid S3 fault 'latency=soon'" in result.output


def test_a_job_result_has_the_counts() -> None:
    job, report = faulted()
    counts = JobResult(None, job, report).s3_faults  # type: ignore[arg-type]
    assert counts is not None and counts.faults == 21 and counts.retries == 23
    del report["S3Faults"]
    assert JobResult(None, job, report).s3_faults is None  # type: ignore[arg-type]
