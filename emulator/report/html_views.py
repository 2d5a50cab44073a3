"""The endpoint's browser view as HTML: the jobs list, a job's live report, one log stream.

Pages refresh themselves: an inline script fetches the page again with `fragment=1` (the
content alone) every couple of seconds and swaps it in, keeping open sections open, until the
content says the job is over (`data-final`). No asset is loaded from anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from emulator.report.html_page import page, report_body
from emulator.report.html_sections import download_path, table
from emulator.report.story import JobStory, LogLine
from emulator.report.units import clock, when

UI_PREFIX = "/_smemu/ui"
REFRESH_MS = 2000

LIVE_SCRIPT = """
(function () {
  var sep = location.search ? "&" : "?";
  var url = location.pathname + location.search + sep + "fragment=1";
  var busy = false;
  function final() { return document.querySelector("#content [data-final]") !== null; }
  function refresh() {
    if (busy || final()) { return; }
    busy = true;
    fetch(url, {cache: "no-store"}).then(function (answer) {
      return answer.ok ? answer.text() : null;
    }).then(function (text) {
      var content = document.getElementById("content");
      if (text === null || content.innerHTML === text) { return; }
      var open = Array.prototype.map.call(
        content.querySelectorAll("details[id][open]"), function (d) { return d.id; });
      content.innerHTML = text;
      open.forEach(function (id) {
        var again = document.getElementById(id);
        if (again) { again.open = true; }
      });
    }).catch(function () {}).then(function () { busy = false; });
  }
  setInterval(refresh, REFRESH_MS);
})();
""".replace("REFRESH_MS", str(REFRESH_MS))


def job_url(name: str) -> str:
    return f"{UI_PREFIX}/jobs/{quote(name)}"


def log_url(stream: str) -> str:
    return f"{UI_PREFIX}/logs/{quote(stream)}"


def _nav(*crumbs: tuple[str, str]) -> str:
    links = [f'<a href="{UI_PREFIX}/">Training jobs</a>']
    links += [f'<a href="{escape(href)}">{escape(text)}</a>' for href, text in crumbs]
    return f'<nav>{"".join(links)} <span class="live">updates live</span></nav>'


def jobs_list_content(jobs: Sequence[Mapping[str, Any]]) -> str:
    """`jobs`: a ListTrainingJobs summary each, with `Attempts` and `Interruptions` added."""
    if not jobs:
        return '<p class="muted">No training jobs on this endpoint yet.</p>'
    rows = []
    for job in jobs:
        name = str(job["TrainingJobName"])
        status = str(job["TrainingJobStatus"])
        rows.append([
            f'<a href="{escape(job_url(name))}">{escape(name)}</a>',
            f'<span class="status status-{escape(status.lower())}">{escape(status)}</span>',
            escape(str(job.get("SecondaryStatus", ""))),
            f'<span class="num">{int(job.get("Attempts") or 0)}</span>',
            f'<span class="num">{int(job.get("Interruptions") or 0)}</span>',
            escape(when(float(job["CreationTime"]))) if job.get("CreationTime") else "-",
        ])
    headers = ("Job", "Status", "Secondary status", "Attempts", "Interruptions", "Created")
    return table(headers, rows, "jobs")


def jobs_list_page(jobs: Sequence[Mapping[str, Any]]) -> str:
    return page("smemu: training jobs", jobs_list_content(jobs), nav=_nav(), script=LIVE_SCRIPT)


def job_content(story: JobStory) -> str:
    body = report_body(story, download_path(f"{job_url(story.name)}/checkpoint"))
    # A finished job changes no more: the page stops asking.
    marker = '<span data-final hidden></span>' if story.finished else ""
    return marker + body


def job_page(story: JobStory) -> str:
    return page(f"Training job {story.name}", job_content(story),
                nav=_nav((job_url(story.name), story.name)), script=LIVE_SCRIPT)


def log_content(stream: str, lines: Sequence[LogLine], finished: bool) -> str:
    text = "\n".join(f"{clock(line.at)}  {line.message}" for line in lines)
    marker = '<span data-final hidden></span>' if finished else ""
    return (f"{marker}<p><code>{escape(stream)}</code>: {len(lines)} lines</p>"
            f'<pre class="log-lines">{escape(text)}</pre>')


def log_page(job: str, stream: str, lines: Sequence[LogLine], finished: bool) -> str:
    return page(f"Log {stream}", log_content(stream, lines, finished),
                nav=_nav((job_url(job), job), (log_url(stream), stream.split("/", 1)[-1])),
                script=LIVE_SCRIPT)


def not_found_page(message: str) -> str:
    return page("smemu: not found", f'<p class="bad">{escape(message)}</p>', nav=_nav())
