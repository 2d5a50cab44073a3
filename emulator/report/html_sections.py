"""The report's sections below the timeline, as HTML fragments: summary, attempts and flags,
checkpoint files and versions, billing, settings, logs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from html import escape
from typing import Any
from urllib.parse import quote

from emulator.jobs.billing import savings_percent
from emulator.report.flag_help import explain
from emulator.report.story import JobStory, host_views
from emulator.report.units import clock, human_size, seconds, when

# Where a checkpoint version can be downloaded from, given (path, key, version id); None: nowhere.
DownloadLink = Callable[[str, str, "str | None"], "str | None"]
MAX_LOG_LINES = 2000  # per stream in the report; the rest is summarised


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    """`rows` hold HTML already escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def summary_section(story: JobStory) -> str:
    d = story.describe
    facts = [
        ("Status", f'<span class="status status-{escape(story.status.lower())}">'
                   f'{escape(story.status)}</span> ({escape(story.secondary_status)})'),
        ("Attempts", f'<span data-fact="attempts">{len(story.attempts)}</span>'),
        ("Interruptions", f'<span data-fact="interruptions">{story.interruptions}</span>'),
        ("Instances", f"{story.instance_count} &times; "
                      f"{escape(str((d.get('ResourceConfig') or {}).get('InstanceType', '')))}"),
        ("Created", escape(when(float(d["CreationTime"]))) if d.get("CreationTime") else "-"),
    ]
    if d.get("FailureReason"):
        facts.append(("Failure reason", f'<span class="bad">{escape(d["FailureReason"])}</span>'))
    model = (d.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    if model:
        facts.append(("Model", f"<code>{escape(model)}</code>"))
    unfired = story.report.get("UnfiredTriggers") or []
    if unfired:
        facts.append(("Triggers never fired", escape(" ".join(unfired))))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in facts)
    notes = "".join(f'<p class="muted">{escape(note)}</p>' for note in story.notes)
    return f'<section id="summary"><dl class="facts">{items}</dl>{notes}</section>'


def attempts_section(story: JobStory) -> str:
    rows = []
    for a in story.attempts:
        several = bool(a.get("Hosts"))
        rows.append(_attempt_row(a, str(a["Attempt"]), "all hosts" if several else "algo-1"))
        if several:
            rows += [_attempt_row(h, "", str(h.get("Host"))) for h in host_views(a)]
    headers = ("Attempt", "Host", "Outcome", "Exit", "Training s", "Restored", "Uploaded",
               "Lost s", "Resume", "Interruption / stop")
    flags = [(a["Attempt"], flag) for a in story.attempts for flag in a.get("Flags") or []]
    flag_items = "".join(
        f'<li class="flag"><b>attempt {n}:</b> {escape(flag)}'
        + (f'<div class="explain">{escape(explain(flag))}</div>' if explain(flag) else "")
        + "</li>" for n, flag in flags)
    flag_html = f'<h3>Flags</h3><ul class="flags">{flag_items}</ul>' if flags else \
        '<p class="good">No flags: nothing suspicious seen in any attempt.</p>'
    verified = [a.get("MirrorVerified") for a in story.attempts if a.get("EndedAt")]
    proof = ""
    if verified and all(v is True for v in verified):
        proof = ('<p class="good">After every ended attempt, S3 held exactly the checkpoint '
                 'directory (path, size, sha256 manifest).</p>')
    return (f'<section id="attempts"><h2>Attempts</h2>{table(headers, rows, "attempts")}'
            f"{flag_html}{proof}</section>")


def _attempt_row(a: Mapping[str, Any], number: str, host: str) -> list[str]:
    outcome = str(a.get("Outcome") or "running")
    if a.get("SigKilled"):
        outcome += " (SIGKILL)"
    if a.get("OomKilled"):
        outcome += " (OOM)"
    restored = a.get("CheckpointsRestored") or []
    restore = str(len(restored))
    if a.get("RestoreSeconds") is not None and restored:
        total = sum(int(f.get("size") or 0) for f in restored)
        restore += f" ({human_size(total)} in {a['RestoreSeconds']:.1f}s)"
    stop = a.get("Interruption") or (f"stopped by {a['StoppedBy']}" if a.get("StoppedBy")
                                     else "-")
    if a.get("InterruptedAt") and a.get("GracePeriodSeconds") is not None:
        stop += f", {a['GracePeriodSeconds']:g}s grace"
    resume = str(a.get("Resume") or "-")
    return [escape(number), escape(host), f'<span class="outcome-{escape(outcome.split()[0])}">'
            f"{escape(outcome)}</span>", escape(str(a.get("ExitCode", "-"))),
            escape(seconds(a.get("TrainingSeconds"))), escape(restore),
            escape(str(len(a.get("CheckpointsUploaded") or []))),
            escape(seconds(a.get("LostTrainingSeconds"))),
            f'<span class="verdict verdict-{escape(resume)}">{escape(resume)}</span>',
            escape(str(stop))]


def checkpoints_section(story: JobStory, download: DownloadLink | None = None) -> str:
    uri = (story.describe.get("CheckpointConfig") or {}).get("S3Uri")
    if not uri:
        return ('<section id="checkpoints"><h2>Checkpoints</h2><p class="muted">No '
                "CheckpointConfig: this job keeps no checkpoints in S3.</p></section>")
    by_path: dict[str, list[dict[str, Any]]] = {}
    for version in story.versions:
        by_path.setdefault(str(version["Path"]), []).append(version)
    note = "" if story.versioned else (
        '<p class="muted">The S3 server keeps no versions here: current files only.</p>')
    if not by_path:
        return (f'<section id="checkpoints"><h2>Checkpoints</h2><p><code>{escape(uri)}</code>'
                '</p><p class="muted">No checkpoint files under the prefix.</p></section>')
    blocks = []
    for path, versions in sorted(by_path.items()):
        rows = []
        for v in reversed(versions):  # newest first
            size = "(deleted)" if v.get("DeleteMarker") else human_size(int(v.get("Size") or 0))
            who = "-" if v.get("Attempt") is None else f"attempt {v['Attempt']}"
            version_id = str(v.get("VersionId") or "-")
            current = " (current)" if v.get("IsLatest") and not v.get("DeleteMarker") else ""
            link = None if v.get("DeleteMarker") or download is None else \
                download(path, str(v["Key"]), v.get("VersionId"))
            row = [escape(size), escape(when(float(v.get("LastModified") or 0))),
                   escape(who), f"<code>{escape(version_id)}</code>{escape(current)}",
                   escape(str(v.get("Sha256") or "")[:12])]
            if download is not None:
                row.append(f'<a href="{escape(link)}" download>download</a>' if link else "")
            rows.append(row)
        live = [v for v in versions if not v.get("DeleteMarker")]
        blocks.append(
            f'<details class="ckpt" id="{element_id("ckpt", path)}" open>'
            f"<summary><code>{escape(path)}</code> — "
            f"{len(live)} version(s)</summary>"
            + table(("Size", "Last modified", "Uploaded by", "Version", "sha256")
                    + (("",) if download is not None else ()), rows)
            + "</details>")
    return (f'<section id="checkpoints"><h2>Checkpoints</h2><p><code>{escape(uri)}</code></p>'
            f"{note}{''.join(blocks)}</section>")


def billing_section(story: JobStory) -> str:
    training, billable = story.training_seconds, story.billable_seconds
    ratio = (story.report.get("Settings") or {}).get("SpotPriceRatio")
    rows = [["Training seconds", f'<span data-fact="training-seconds">{training}</span>'],
            ["Billable seconds", f'<span data-fact="billable-seconds">{billable}</span>']]
    if story.spot:
        rows.append(["Managed Spot Training savings",
                     f'<span data-fact="savings">{savings_percent(training, billable):.1f}%'
                     "</span>"])
        if ratio is not None:
            rows.append(["Spot price ratio", escape(str(ratio))])
    if not story.finished:
        rows.append(["", '<span class="muted">SageMaker reports these once the job ends.</span>'])
    return f'<section id="billing"><h2>Billing</h2>{table(("", "Seconds"), rows)}</section>'


def settings_section(story: JobStory) -> str:
    d = story.describe
    algorithm = d.get("AlgorithmSpecification") or {}
    stopping = d.get("StoppingCondition") or {}
    rows = [
        ["Image", f"<code>{escape(str(algorithm.get('TrainingImage', '-')))}</code>"],
        ["Managed spot", escape(str(story.spot))],
        ["MaxRuntimeInSeconds", escape(str(stopping.get("MaxRuntimeInSeconds", "-")))],
        ["MaxWaitTimeInSeconds", escape(str(stopping.get("MaxWaitTimeInSeconds", "-")))],
        ["Checkpoints", f"<code>{escape(json.dumps(d.get('CheckpointConfig') or {}))}</code>"],
        ["Hyperparameters", f"<code>{escape(json.dumps(d.get('HyperParameters') or {}))}</code>"],
    ]
    for key, value in (story.report.get("Settings") or {}).items():
        rows.append([f"smemu {escape(key)}", f"<code>{escape(json.dumps(value))}</code>"])
    request = {k: v for k, v in d.items() if k not in ("SecondaryStatusTransitions",
                                                        "FinalMetricDataList")}
    return (f'<section id="settings"><h2>Settings</h2>{table(("Setting", "Value"), rows)}'
            '<details><summary>The whole DescribeTrainingJob response</summary>'
            f'<pre>{escape(json.dumps(request, indent=2, default=str))}</pre></details>'
            "</section>")


def transitions_section(story: JobStory) -> str:
    rows = [[escape(clock(float(t["StartTime"]))), escape(str(t["Status"])),
             escape(str(t.get("StatusMessage", "")))]
            for t in story.describe.get("SecondaryStatusTransitions") or []]
    return (f'<section id="transitions"><h2>Secondary status transitions</h2>'
            f'{table(("Start", "Status", "Message"), rows)}</section>')


def logs_section(story: JobStory) -> str:
    if not story.logs:
        return ('<section id="logs"><h2>Logs</h2><p class="muted">No log streams.</p>'
                "</section>")
    owners = {str(view.get("LogStream")): f"attempt {a['Attempt']} · {view.get('Host')}"
              for a in story.attempts for view in host_views(a) if view.get("LogStream")}
    blocks = []
    for stream, lines in sorted(story.logs.items()):
        shown = lines[-MAX_LOG_LINES:]
        cut = f"({len(lines) - len(shown)} earlier lines left out)\n" if len(lines) > len(shown) \
            else ""
        link = story.log_links.get(stream)
        live = f' — <a href="{escape(link)}">open</a>' if link else ""
        owner = f"{escape(owners[stream])}: " if stream in owners else ""
        text = "\n".join(f"{clock(line.at)}  {line.message}" for line in shown)
        blocks.append(f'<details class="log" id="{element_id("log", stream)}"><summary>{owner}'
                      f"<code>{escape(stream)}</code> ({len(lines)} lines){live}</summary>"
                      f"<pre>{escape(cut + text)}</pre></details>")
    return f'<section id="logs"><h2>Logs</h2>{"".join(blocks)}</section>'


def element_id(kind: str, name: str) -> str:
    """A stable HTML id for a section about `name` (a path, a stream)."""
    return f"{kind}-" + "".join(c if c.isalnum() else "-" for c in name)


def download_path(prefix: str) -> DownloadLink:
    """Download links to the endpoint's checkpoint route under `prefix`."""
    def link(path: str, key: str, version_id: str | None) -> str:
        query = f"path={quote(path)}"
        if version_id and version_id != "null":
            query += f"&versionId={quote(version_id)}"
        return f"{prefix}?{query}"
    return link
