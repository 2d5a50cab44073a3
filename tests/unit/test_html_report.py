"""The HTML report and its SVG timeline, rendered from golden job histories (a real spot job
with two interruptions, recorded; a two-host job made from it), and the same numbers in the
terminal summary, the JSON and the HTML."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from emulator.cli.follow import render_summary
from emulator.report.html_page import render_report
from emulator.report.html_sections import download_path
from emulator.report.story import JobStory, LogLine
from emulator.report.svg_timeline import render_timeline

GOLDEN = Path(__file__).parent / "data" / "story_spot_two_interruptions.json"
SVG = "{http://www.w3.org/2000/svg}"


def golden() -> dict[str, Any]:
    return dict(json.loads(GOLDEN.read_text()))


def story_of(data: dict[str, Any], **kwargs: Any) -> JobStory:
    data = copy.deepcopy(data)
    report = data.pop("SmemuReport")
    return JobStory.of(data, report, **kwargs)


def svg_of(story: JobStory) -> ET.Element:
    return ET.fromstring(render_timeline(story))  # well-formed XML, or this raises


def titles(svg: ET.Element, css: str) -> list[str]:
    """The hover texts of the lanes' marks of class `css` (not the legend's swatches)."""
    return [str(e.findtext(f"{SVG}title")) for lane in svg.iter(f"{SVG}g")
            if lane.get("class") == "lane" for e in lane.iter()
            if css in (e.get("class") or "").split()]


def two_host_story() -> JobStory:
    """The golden job as a two-host job: each host's view, a conflict, a SIGKILL, a capacity
    wait after the first interruption."""
    data = golden()
    attempts = data["SmemuReport"]["Attempts"]
    for a in attempts:
        hosts = []
        for host in ("algo-1", "algo-2"):
            view = copy.deepcopy(a)
            view["Host"] = host
            view["CheckpointsUploaded"] = [{**u, "host": host} for u in a["CheckpointsUploaded"]]
            hosts.append(view)
        a["Hosts"] = hosts
        a["OverwriteConflicts"] = [f"{u['path']} written by algo-1 and algo-2 to the same S3 "
                                   "key (the last upload wins; ...)"
                                   for u in a["CheckpointsUploaded"][:1]]
    attempts[0]["Hosts"][1]["SigKilled"] = True
    attempts[0]["CapacityWaits"] = [{"Start": attempts[0]["EndedAt"],
                                     "End": attempts[0]["EndedAt"] + 0.1}]
    data["ResourceConfig"]["InstanceCount"] = 2
    return story_of(data)


def test_the_timeline_draws_every_attempt_interruption_upload_restore_and_lost_span() -> None:
    data = golden()
    attempts = data["SmemuReport"]["Attempts"]
    svg = svg_of(story_of(data))
    lanes = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "lane"]
    assert [(g.get("data-attempt"), g.get("data-host")) for g in lanes] == \
        [("1", "algo-1"), ("2", "algo-1"), ("3", "algo-1")]
    # Segments per attempt: the first and second end at their interruption, the third uploads.
    segments = {g.get("data-attempt"): [str(r.get("class")) for r in g.iter(f"{SVG}rect")
                                        if "seg" in str(r.get("class"))] for g in lanes}
    assert segments["1"] == ["seg seg-starting", "seg seg-downloading", "seg seg-training"]
    assert segments["3"][-1] == "seg seg-uploading"
    marks = titles(svg, "interrupt")
    assert len(marks) == 2 and all("interrupted (after=2s)" in m for m in marks)
    assert len(titles(svg, "grace")) == 2
    assert all("120s to exit" in t for t in titles(svg, "grace"))
    uploads = [u for a in attempts for u in a["CheckpointsUploaded"]]
    ticks = titles(svg, "tick")
    assert len(ticks) == len(uploads) > 0
    assert f"uploaded {uploads[0]['path']} ({uploads[0]['size']} B)" in ticks[0]
    restores = titles(svg, "restore")
    assert restores[1] == "restored 1 checkpoint file(s), 21 B, in 0.2s"
    lost = titles(svg, "lost")
    assert lost == [f"{a['LostTrainingSeconds']:.1f}s of training lost: done after the newest "
                    "checkpoint that reached S3" for a in attempts if a["LostTrainingSeconds"]]
    assert not titles(svg, "sigkill") and not titles(svg, "conflict")


def test_the_time_scale_keeps_every_mark_inside_the_plot_in_time_order() -> None:
    svg = svg_of(story_of(golden()))
    ticks = [float(str(e.get("x1"))) for lane in svg.iter(f"{SVG}g")
             if lane.get("class") == "lane" for e in lane.iter(f"{SVG}line")
             if e.get("class") == "tick"]
    assert ticks == sorted(ticks)
    for rect in svg.iter(f"{SVG}rect"):
        x, width = float(str(rect.get("x"))), float(str(rect.get("width")))
        assert x >= 150 and x + width <= 1100 - 24 + 1, rect.attrib


def test_a_two_host_job_has_a_lane_per_host_with_conflicts_and_the_sigkill_marked() -> None:
    svg = svg_of(two_host_story())
    lanes = [(g.get("data-attempt"), g.get("data-host")) for g in svg.iter(f"{SVG}g")
             if g.get("class") == "lane"]
    assert lanes == [(str(n), h) for n in (1, 2, 3) for h in ("algo-1", "algo-2")]
    conflicts = titles(svg, "conflict")
    assert conflicts and all("OVERWRITE CONFLICT" in t for t in conflicts)
    kills = titles(svg, "sigkill")
    assert len(kills) == 1 and "SIGKILL" in kills[0]
    waits = titles(svg, "capacity")
    assert len(waits) == 2 and all(w.startswith("waiting for spot capacity") for w in waits)


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_the_report_is_one_file_that_loads_nothing() -> None:
    story = story_of(golden(), logs={"j/algo-1-1": [LogLine(1.0, "step 1")]},
                     log_links={"j/algo-1-1": "http://127.0.0.1:1/_smemu/ui/logs/j/algo-1-1"})
    html = render_report(story)
    parser = _Links()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs, (tag, attrs)  # scripts are inline
    assert "@import" not in html and "url(" not in html
    assert [t for t, a in parser.tags if t == "svg"] == ["svg"]


def test_nothing_from_the_job_can_inject_markup() -> None:
    data = golden()
    data["HyperParameters"]["evil"] = "<script>alert(1)</script>"
    data["SmemuReport"]["Attempts"][0]["Flags"] = ["torn checkpoint (...): </script><b>x"]
    story = story_of(data, logs={"j/algo-1-1": [LogLine(1.0, "<img src=x onerror=alert(1)>")]})
    html = render_report(story)
    assert "<script>alert" not in html and "<img" not in html and "<b>x" not in html
    embedded = re.search(r'<script type="application/json" id="smemu-story">(.*?)</script>',
                         html, re.S)
    assert embedded is not None
    assert json.loads(embedded.group(1))["HyperParameters"]["evil"] == \
        "<script>alert(1)</script>"


def test_flags_come_with_their_explanation() -> None:
    html = render_report(story_of(golden()))
    assert "checkpoint written during the grace window, after SIGTERM: checkpoint.json" in html
    assert "It reaches S3 only if the upload finishes before SIGKILL" in html


def test_checkpoint_versions_are_listed_per_file_newest_first_with_download_links() -> None:
    versions = [
        {"Path": "c.json", "Key": "p/c.json", "Size": 21, "LastModified": 100.0,
         "VersionId": "v1", "IsLatest": False, "DeleteMarker": False, "Attempt": 1,
         "Sha256": "ab" * 32},
        {"Path": "c.json", "Key": "p/c.json", "Size": 29, "LastModified": 200.0,
         "VersionId": "v2", "IsLatest": True, "DeleteMarker": False, "Attempt": 2,
         "Sha256": "cd" * 32},
    ]
    story = story_of(golden(), versions=versions, versioned=True)
    html = render_report(story, download=download_path("/dl"))
    section = html[html.index('id="checkpoints"'):html.index('id="billing"')]
    assert "2 version(s)" in section
    assert section.index("v2") < section.index("v1")  # newest first
    assert 'href="/dl?path=c.json&amp;versionId=v2"' in section
    assert "attempt 1" in section and "(current)" in section


FACT = re.compile(r'data-fact="([a-z-]+)">([^<]+)<')


def _numbers_in_terminal(text: str) -> dict[str, str]:
    attempts = re.search(r"Attempts: (\d+), interruptions: (\d+)", text)
    seconds = re.search(r"Training seconds: (\d+), billable seconds: (\d+)", text)
    savings = re.search(r"savings: ([\d.]+%)", text)
    assert attempts and seconds and savings, text
    return {"attempts": attempts[1], "interruptions": attempts[2],
            "training-seconds": seconds[1], "billable-seconds": seconds[2],
            "savings": savings[1]}


def test_terminal_json_and_html_show_the_same_numbers() -> None:
    data = golden()
    story = story_of(data)
    as_json = story.to_json()
    assert as_json == data  # the JSON is the history itself
    report = as_json["SmemuReport"]
    expected = {"attempts": str(len(report["Attempts"])),
                "interruptions": str(report["Interruptions"]),
                "training-seconds": str(as_json["TrainingTimeInSeconds"]),
                "billable-seconds": str(as_json["BillableTimeInSeconds"]),
                "savings": f"{(1 - 6 / 17) * 100:.1f}%"}
    assert expected == {"attempts": "3", "interruptions": "2", "training-seconds": "17",
                        "billable-seconds": "6", "savings": "64.7%"}
    describe = {k: v for k, v in data.items() if k != "SmemuReport"}
    assert _numbers_in_terminal(render_summary(describe, report)) == expected
    assert dict(FACT.findall(render_report(story))) == expected
    # Per attempt: the lost seconds of the terminal table are the HTML table's.
    html = render_report(story)
    for a in report["Attempts"]:
        lost = a["LostTrainingSeconds"]
        if lost is not None:
            assert f"<td>{lost:.1f}</td>" in html


def test_a_job_that_has_not_started_yet_renders() -> None:
    data = golden()
    data["SmemuReport"]["Attempts"] = []
    data["TrainingJobStatus"] = "InProgress"
    html = render_report(story_of(data))
    assert "no attempt has started yet" in html


@pytest.mark.parametrize("status", ["Completed", "InProgress"])
def test_a_running_job_reaches_to_now(status: str) -> None:
    data = golden()
    data["TrainingJobStatus"] = status
    last = data["SmemuReport"]["Attempts"][-1]["EndedAt"]
    story = story_of(data, generated_at=last + 100)
    text = render_timeline(story)
    assert ("+100s" in text) == (status == "InProgress")


def test_the_live_pages_stop_refreshing_once_the_job_is_over_and_escape_names() -> None:
    from emulator.report.html_views import job_content, jobs_list_content

    data = golden()
    assert "data-final" in job_content(story_of(data))
    data["TrainingJobStatus"] = "InProgress"
    version = {"Path": "c.json", "Key": "p/c.json", "Size": 2, "LastModified": 1.0,
               "VersionId": "v1", "IsLatest": True, "DeleteMarker": False}
    running = job_content(story_of(data, versions=[version], versioned=True))
    assert "data-final" not in running
    name = data["TrainingJobName"]
    assert f'href="/_smemu/ui/jobs/{name}/checkpoint?path=c.json&amp;versionId=v1"' in running
    listed = jobs_list_content([{"TrainingJobName": "a<b", "TrainingJobStatus": "InProgress",
                                 "SecondaryStatus": "Training", "CreationTime": 1.0,
                                 "Attempts": 2, "Interruptions": 1}])
    assert "a&lt;b" in listed and "a<b" not in listed
    assert 'href="/_smemu/ui/jobs/a%3Cb"' in listed


def test_every_flag_the_resume_verification_writes_has_an_explanation() -> None:
    from emulator.jobs import resume
    from emulator.report.flag_help import explain

    for opening in (resume.SCRATCH_FLAG, resume.DIFFERS_FLAG, resume.SIBLINGS_FLAG,
                    resume.NO_CHECKPOINTS_FLAG, resume.IGNORED_SIGTERM_FLAG,
                    "checkpoint written during the grace window, after SIGTERM: c.json",
                    "torn checkpoint (being written when the container died): c.json",
                    "checkpoint written in place, not atomically (temp file + rename): c.json",
                    "overwrite conflict: c.json written by algo-1 and algo-2"):
        assert explain(opening), opening
        assert explain(f"algo-2: {opening}") == explain(opening)
    assert explain("something new") == ""
