"""`smemu run --report` and `smemu jobs report` tell an interrupted job's story in one HTML
file: the attempts and interruptions DescribeTrainingJob and the report give, the checkpoint
versions S3 holds with the attempt that uploaded each, the logs; and a later endpoint on the
same state directory writes the same report from its SQLite history. Real endpoint, real
Docker, the CLI as a subprocess, the file opened in a real headless chromium."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.browser import open_page
from tests.support.endpoint import TOY_IMAGE, EndpointProcess

pytestmark = pytest.mark.docker
SVG = "{http://www.w3.org/2000/svg}"


def embedded_story(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="smemu-story">(.*?)</script>', html,
                      re.S)
    assert found, "the report embeds no story"
    return dict(json.loads(found.group(1)))


def timeline(html: str) -> ET.Element:
    return ET.fromstring(html[html.index("<svg"):html.index("</svg>") + len("</svg>")])


def marks(svg: ET.Element, css: str) -> list[str]:
    return [str(e.findtext(f"{SVG}title")) for lane in svg.iter(f"{SVG}g")
            if lane.get("class") == "lane" for e in lane.iter()
            if css in (e.get("class") or "").split()]


def test_the_report_of_an_interrupted_job_tells_its_story_and_outlives_the_endpoint(
        tmp_path: Path, docker_client: Any) -> None:
    state, first_file = tmp_path / "state", tmp_path / "run.html"
    with EndpointProcess(state, "--grace-period", "5s") as endpoint:
        name = "report-two-interruptions"
        ran = smemu("run", "--endpoint-url", endpoint.url, "--image", TOY_IMAGE,
                    "--job-name", name, "--spot", "--max-wait", "600",
                    "--checkpoint-s3-uri", "s3://reports/ckpt", "-H", "total_steps=40",
                    "-H", "seconds_per_step=0.1", "-H", "checkpoint_interval=5",
                    "--interrupt", "after=2s", "--interrupt", "after=2s", "--report",
                    str(first_file), "--no-logs")
        assert ran.returncode == 0, ran.stderr
        assert f"wrote the report of {name} to {first_file}" in ran.stdout
        described = smemu("jobs", "describe", name, "--json", "--endpoint-url", endpoint.url)
        assert described.returncode == 0, described.stderr
        truth = json.loads(described.stdout)
        versions = smemu("checkpoints", "ls", name, "--versions", "--json", "--endpoint-url",
                         endpoint.url)
        assert versions.returncode == 0, versions.stderr
        stored = json.loads(versions.stdout)["Versions"]
    html = first_file.read_text()
    report = truth["SmemuReport"]
    attempts = report["Attempts"]
    assert len(attempts) == 3 and report["Interruptions"] == 2

    # The story in the file is the job's history, as DescribeTrainingJob and the report say.
    story = embedded_story(html)
    assert story["SmemuReport"] == report
    assert story["TrainingTimeInSeconds"] == truth["TrainingTimeInSeconds"]
    assert f'data-fact="attempts">{len(attempts)}<' in html
    assert 'data-fact="interruptions">2<' in html
    assert f'data-fact="billable-seconds">{truth["BillableTimeInSeconds"]}<' in html

    svg = timeline(html)
    lanes = [g.get("data-attempt") for g in svg.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert lanes == ["1", "2", "3"]
    assert len([m for m in marks(svg, "interrupt") if "interrupted (after=2s)" in m]) == 2
    uploads = sum(len(a["CheckpointsUploaded"]) for a in attempts)
    assert len(marks(svg, "tick")) == uploads > 0
    restored = [a for a in attempts if a["CheckpointsRestored"]]
    assert len(marks(svg, "restore")) == 3 and len(restored) == 2

    # Every version S3 holds is listed, with the attempt that uploaded it.
    section = html[html.index('id="checkpoints"'):html.index('id="billing"')]
    for version in stored:
        assert version["VersionId"] in section
    for number in {v["Attempt"] for v in stored if v["Attempt"]}:
        assert f"attempt {number}" in section
    # The logs of every attempt are in the file.
    streams = [a["LogStream"] for a in attempts]
    for stream in streams:
        assert stream in html
    assert "step" in html[html.index('id="logs"'):]

    # A later endpoint reads the job from its history and writes the same story.
    with EndpointProcess(state) as later:
        second_file = tmp_path / "later.html"
        again = smemu("jobs", "report", name, "-o", str(second_file), "--endpoint-url",
                      later.url)
        assert again.returncode == 0, again.stderr
    later_html = second_file.read_text()
    assert embedded_story(later_html)["SmemuReport"] == report
    assert ET.tostring(timeline(later_html)) == ET.tostring(svg)

    # Opened from disk in a real browser: it renders, with no console error.
    opened = open_page(first_file.as_uri(), screenshot="html-report-two-interruptions.png",
                       selectors=("svg.timeline g.lane", "table.attempts tbody tr"))
    assert opened.errors == []
    assert opened.counts == {"svg.timeline g.lane": 3, "table.attempts tbody tr": 3}


def test_jobs_report_of_an_unknown_job_is_a_clean_error(endpoint: EndpointProcess,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "none.html"
    done = smemu("jobs", "report", "no-such-job-here", "-o", str(out), "--endpoint-url",
                 endpoint.url)
    assert done.returncode != 0
    assert "Requested resource not found" in done.stderr or "not found" in done.stderr.lower()
    assert "Traceback" not in done.stderr
    assert not out.exists()
