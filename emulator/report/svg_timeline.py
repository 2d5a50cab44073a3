"""The job's timeline as an inline SVG: a lane per attempt and host, drawn to one time scale.

Each lane shows the attempt's secondary statuses as segments (Starting, Downloading, Training,
Uploading, Stopping), the checkpoint restore, every upload as a tick (hover: path, size, time;
red when several hosts wrote the same key), the interruption (its kind, the grace window, the
SIGKILL), the work lost since the last upload as a shaded span, and the waits for capacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from emulator.report.story import JobStory, conflict_paths, host_views
from emulator.report.units import clock as _clock
from emulator.report.units import human_size as _size

WIDTH = 1100
LABEL_WIDTH = 150
RIGHT_MARGIN = 24
AXIS_HEIGHT = 30
LANE_HEIGHT = 30
LANE_GAP = 8
BAR_HEIGHT = 16
LEGEND_HEIGHT = 26
# The statuses an attempt's bar is made of (the job's others fall between attempts).
SEGMENTS = ("Starting", "Downloading", "Training", "Uploading", "Stopping")


@dataclass(frozen=True)
class Scale:
    start: float
    end: float
    left: float = LABEL_WIDTH
    width: float = WIDTH - LABEL_WIDTH - RIGHT_MARGIN

    def x(self, at: float) -> float:
        span = max(self.end - self.start, 1e-9)
        return round(self.left + (min(max(at, self.start), self.end) - self.start) / span
                     * self.width, 2)

    def w(self, start: float, end: float) -> float:
        return max(round(self.x(end) - self.x(start), 2), 0.0)


def time_span(story: JobStory) -> tuple[float, float]:
    """From the job's creation to its last event (now, for a job still running)."""
    attempts = story.attempts
    starts = [a["StartedAt"] for a in attempts if a.get("StartedAt")]
    start = min([story.describe.get("CreationTime") or math.inf, *starts])
    if start == math.inf:
        start = story.generated_at
    ends: list[float] = [start + 1.0]
    for t in story.describe.get("SecondaryStatusTransitions") or []:
        ends += [v for v in (t.get("StartTime"), t.get("EndTime")) if v]
    for a in attempts:
        for view in host_views(a):
            ends += [v for v in (view.get("EndedAt"), view.get("InterruptedAt")) if v]
            ends += [u["at"] for u in view.get("CheckpointsUploaded") or [] if u.get("at")]
        ends += [w["End"] for w in a.get("CapacityWaits") or []]
    if not story.finished:
        ends.append(story.generated_at)
    return start, max(ends)


def render_timeline(story: JobStory) -> str:
    """The SVG element (no XML prolog: it is inlined in HTML)."""
    scale = Scale(*time_span(story))
    lanes = [(a, view) for a in story.attempts for view in host_views(a)]
    height = AXIS_HEIGHT + LEGEND_HEIGHT + max(len(lanes), 1) * (LANE_HEIGHT + LANE_GAP) + 10
    parts = [f'<svg class="timeline" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
             f'aria-label="timeline of {escape(story.name)}">', _legend()]
    parts.append(_axis(scale, height))
    if not lanes:
        parts.append(f'<text x="{LABEL_WIDTH}" y="{AXIS_HEIGHT + LEGEND_HEIGHT + 20}" '
                     'class="muted">no attempt has started yet</text>')
    transitions = _segments(story, scale.end)
    for index, (attempt, view) in enumerate(lanes):
        top = AXIS_HEIGHT + LEGEND_HEIGHT + index * (LANE_HEIGHT + LANE_GAP)
        parts.append(_lane(scale, top, attempt, view, transitions, story.generated_at,
                           creation=story.describe.get("CreationTime")))
    parts.append("</svg>")
    return "\n".join(parts)


def _segments(story: JobStory, end: float) -> list[tuple[str, float, float]]:
    out = []
    transitions = list(story.describe.get("SecondaryStatusTransitions") or [])
    for index, t in enumerate(transitions):
        following = transitions[index + 1]["StartTime"] if index + 1 < len(transitions) else end
        out.append((str(t["Status"]), float(t["StartTime"]), float(t.get("EndTime") or following)))
    return out


def _lane(scale: Scale, top: float, attempt: Mapping[str, Any], view: Mapping[str, Any],
          transitions: list[tuple[str, float, float]], now: float,
          creation: float | None = None) -> str:
    number = attempt["Attempt"]
    host = str(view.get("Host") or "algo-1")
    bar_top = top + (LANE_HEIGHT - BAR_HEIGHT) / 2
    begin = float(attempt["StartedAt"])
    if number == 1 and creation is not None:  # the job's first Starting is its first attempt's
        begin = min(begin, float(creation))
    finish = float(attempt.get("EndedAt") or view.get("EndedAt") or now)
    out = [f'<g class="lane" data-attempt="{number}" data-host="{escape(host)}">',
           f'<text class="lane-label" x="8" y="{top + LANE_HEIGHT / 2 + 4}">attempt {number} · '
           f'{escape(host)}</text>']
    for status, start, end in transitions:
        start, end = max(start, begin), min(end, finish)
        if status not in SEGMENTS or end <= start:
            continue
        out.append(_rect(scale, start, end, bar_top, BAR_HEIGHT, f"seg seg-{status.lower()}",
                         f"attempt {number} {host}: {status} {_span_text(start, end)}"))
    out += _restore(scale, attempt, bar_top)
    out += _lost_work(scale, view, bar_top)
    out += _interruption(scale, attempt, view, bar_top)
    conflicts = conflict_paths(attempt)
    for upload in view.get("CheckpointsUploaded") or []:
        if upload.get("at") is None:
            continue
        x = scale.x(float(upload["at"]))
        conflict = upload["path"] in conflicts
        what = (f"uploaded {upload['path']} ({_size(int(upload.get('size') or 0))}) at "
                f"{_clock(float(upload['at']))}" + (" — OVERWRITE CONFLICT: another host wrote "
                                                     "the same S3 key" if conflict else ""))
        out.append(f'<line class="tick{" conflict" if conflict else ""}" x1="{x}" x2="{x}" '
                   f'y1="{bar_top - 4}" y2="{bar_top + BAR_HEIGHT + 4}">'
                   f'<title>{escape(what)}</title></line>')
    for wait in attempt.get("CapacityWaits") or []:
        out.append(_rect(scale, wait["Start"], wait["End"], bar_top, BAR_HEIGHT, "capacity",
                         f"waiting for spot capacity {_span_text(wait['Start'], wait['End'])}"))
    out.append("</g>")
    return "\n".join(out)


def _restore(scale: Scale, attempt: Mapping[str, Any], bar_top: float) -> list[str]:
    started, seconds = attempt.get("RestoreStartedAt"), attempt.get("RestoreSeconds")
    restored = attempt.get("CheckpointsRestored") or []
    if started is None or seconds is None:
        return []
    size = sum(int(f.get("size") or 0) for f in restored)
    what = (f"restored {len(restored)} checkpoint file(s), {_size(size)}, in {seconds:.1f}s")
    return [_rect(scale, started, started + max(seconds, 0.0), bar_top + BAR_HEIGHT - 5, 5,
                  "restore", what)]


def _lost_work(scale: Scale, view: Mapping[str, Any], bar_top: float) -> list[str]:
    lost = view.get("LostTrainingSeconds")
    end = view.get("InterruptedAt") or view.get("TrainingEndedAt")
    if not lost or end is None:
        return []
    return [_rect(scale, end - lost, end, bar_top - 3, BAR_HEIGHT + 6, "lost",
                  f"{lost:.1f}s of training lost: done after the newest checkpoint that "
                  "reached S3")]


def _interruption(scale: Scale, attempt: Mapping[str, Any], view: Mapping[str, Any],
                  bar_top: float) -> list[str]:
    at = attempt.get("InterruptedAt")
    if at is None:
        return []
    trigger = attempt.get("Interruption")
    kind = str(trigger).split("=", 1)[0] if trigger else str(attempt.get("StoppedBy") or "stop")
    grace = float(attempt.get("GracePeriodSeconds") or 0.0)
    end = view.get("TrainingEndedAt") or attempt.get("EndedAt") or at + grace
    grace_end = min(at + grace, max(end, at))
    x = scale.x(at)
    label = f"interrupted ({trigger})" if trigger else f"stopped by {kind}"
    out = []
    if grace > 0:
        out.append(_rect(scale, at, grace_end, bar_top - 2, BAR_HEIGHT + 4, "grace",
                         f"grace window: SIGTERM at {_clock(at)}, {grace:g}s to exit"))
    out.append(f'<line class="interrupt" x1="{x}" x2="{x}" y1="{bar_top - 6}" '
               f'y2="{bar_top + BAR_HEIGHT + 6}"><title>{escape(label)} at {_clock(at)}'
               f'</title></line>')
    out.append(f'<text class="interrupt-label" x="{x + 3}" y="{bar_top - 2}">'
               f'{escape(kind)}</text>')
    if view.get("SigKilled"):
        kx = scale.x(at + grace)
        out.append(f'<text class="sigkill" x="{kx - 5}" y="{bar_top + BAR_HEIGHT - 3}">✕'
                   f'<title>SIGKILL at {_clock(at + grace)}: still running when the '
                   f'{grace:g}s grace period ended</title></text>')
    return out


def _rect(scale: Scale, start: float, end: float, top: float, height: float, css: str,
          title: str) -> str:
    return (f'<rect class="{css}" x="{scale.x(start)}" y="{round(top, 2)}" '
            f'width="{max(scale.w(start, end), 1.0)}" height="{height}">'
            f'<title>{escape(title)}</title></rect>')


def _axis(scale: Scale, height: float) -> str:
    span = scale.end - scale.start
    step = _nice_step(span / 8)
    out = ['<g class="axis">']
    tick = 0.0
    while tick <= span + 1e-9:
        x = scale.x(scale.start + tick)
        out.append(f'<line x1="{x}" x2="{x}" y1="{AXIS_HEIGHT - 6}" y2="{height - 6}"/>'
                   f'<text x="{x}" y="{AXIS_HEIGHT - 10}" text-anchor="middle">+{tick:g}s'
                   '</text>')
        tick += step
    out.append("</g>")
    return "".join(out)


def _legend() -> str:
    items = [("seg seg-starting", "Starting"), ("seg seg-downloading", "Downloading"),
             ("seg seg-training", "Training"), ("seg seg-uploading", "Uploading"),
             ("restore", "restore"), ("grace", "grace window"), ("lost", "lost work"),
             ("capacity", "capacity wait")]
    out = ['<g class="legend">']
    x = float(LABEL_WIDTH)
    for css, label in items:
        out.append(f'<rect class="{css}" x="{x}" y="{AXIS_HEIGHT + 4}" width="12" '
                   f'height="10"/><text x="{x + 16}" y="{AXIS_HEIGHT + 13}">{label}</text>')
        x += 34 + 7.5 * len(label)
    out.append(f'<line class="tick" x1="{x}" x2="{x}" y1="{AXIS_HEIGHT + 2}" '
               f'y2="{AXIS_HEIGHT + 16}"/><text x="{x + 6}" y="{AXIS_HEIGHT + 13}">upload'
               f'</text>')
    out.append("</g>")
    return "".join(out)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _span_text(start: float, end: float) -> str:
    return f"{_clock(start)} to {_clock(end)} ({end - start:.1f}s)"
