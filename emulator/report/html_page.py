"""The job report as one self-contained HTML document: inline CSS, inline SVG, no fetches."""

from __future__ import annotations

import json
from html import escape

from emulator.report.html_sections import (
    DownloadLink,
    attempts_section,
    billing_section,
    checkpoints_section,
    logs_section,
    settings_section,
    summary_section,
    transitions_section,
)
from emulator.report.s3_faults import s3_faults_section
from emulator.report.story import JobStory
from emulator.report.style import CSS
from emulator.report.svg_timeline import render_timeline
from emulator.report.units import when
from emulator.version import __version__


def report_body(story: JobStory, download: DownloadLink | None = None) -> str:
    """Everything below the page's header: what a live view replaces as the job goes on."""
    return "\n".join([
        summary_section(story),
        f'<section id="timeline"><h2>Timeline</h2>{render_timeline(story)}</section>',
        attempts_section(story),
        checkpoints_section(story, download),
        s3_faults_section(story.report,
                          str((story.report.get("Settings") or {}).get("S3Faults", ""))),
        billing_section(story),
        settings_section(story),
        transitions_section(story),
        logs_section(story),
        # The story itself, for tools (and tests) reading the report.
        '<script type="application/json" id="smemu-story">'
        + _script_safe(json.dumps(story.to_json(), default=str)) + "</script>",
    ])


def page(title: str, body: str, *, nav: str = "", script: str = "") -> str:
    """An HTML document; `script` is inline JavaScript (the live view's refresh)."""
    scripts = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1>{nav}</header>"
        f'<main id="content">{body}</main>{scripts}</body></html>\n')


def render_report(story: JobStory, download: DownloadLink | None = None) -> str:
    """The report file `smemu run --report` and `smemu jobs report` write."""
    nav = (f'<p class="muted">smemu {escape(__version__)} report, written '
           f"{escape(when(story.generated_at))}"
           + (f" from {escape(story.endpoint_url)}" if story.endpoint_url else "") + "</p>")
    return page(f"Training job {story.name}", report_body(story, download), nav=nav)


def _script_safe(text: str) -> str:
    # JSON inside <script>: no "</script>" (or "<!--") may end it early.
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
