"""A job's timeline as text lines, rendered from the emulator report (attempts and events)."""

from __future__ import annotations

from typing import Any

MAX_UPLOAD_LINES = 6  # per attempt; the rest are summarised


def timeline(report: dict[str, Any], origin: float | None = None) -> list[str]:
    """'+12.3s  attempt 2  ...' lines in time order, relative to the first attempt's start."""
    attempts = report.get("Attempts", [])
    if not attempts:
        return []
    start = origin if origin is not None else attempts[0]["StartedAt"]
    events: list[tuple[float, str]] = []
    for a in attempts:
        n = a["Attempt"]
        restored = a.get("CheckpointsRestored", [])
        events.append((a["StartedAt"], f"attempt {n}: starting, {len(restored)} checkpoint "
                                       f"file(s) restored"))
        if a.get("TrainingStartedAt"):
            events.append((a["TrainingStartedAt"], f"attempt {n}: training"))
        uploads = sorted(a.get("CheckpointsUploaded", []), key=lambda u: u.get("at") or 0)
        for upload in uploads[:MAX_UPLOAD_LINES]:
            by = f" by {upload['host']}" if upload.get("host") else ""
            events.append((upload.get("at") or a["StartedAt"],
                           f"attempt {n}: uploaded {upload['path']} ({upload['size']} B){by}"))
        if len(uploads) > MAX_UPLOAD_LINES:
            last = uploads[-1]
            events.append((last.get("at") or a["StartedAt"],
                           f"attempt {n}: ... {len(uploads) - MAX_UPLOAD_LINES} more upload(s), "
                           f"last {last['path']}"))
        if a.get("InterruptedAt") and a.get("Interruption"):
            lost = a.get("LostTrainingSeconds")
            lost_text = f", {lost:.1f}s of training lost (since the newest checkpoint in S3)" \
                if lost is not None else ""
            events.append((a["InterruptedAt"], f"attempt {n}: INTERRUPTED by "
                                               f"{a['Interruption']}{lost_text}"))
            if a.get("ReclaimedHost"):  # one host's instance, then the job was stopped
                peers = "; ".join(f"{h['Host']} {h['AfterReclaim']}" for h in a.get("Hosts", [])
                                  if h.get("AfterReclaim"))
                events.append((a["InterruptedAt"], f"attempt {n}: {a['ReclaimedHost']}'s spot "
                                                   f"instance reclaimed first; {peers}"))
        elif a.get("InterruptedAt"):  # the signal of a stop: StopTrainingJob or a time limit
            grace = a.get("GracePeriodSeconds")
            signal = f"SIGTERM, {grace:g}s grace" if grace else "SIGKILL"
            events.append((a["InterruptedAt"], f"attempt {n}: STOPPED by "
                                               f"{a.get('StoppedBy') or 'a stop'} ({signal})"))
        if a.get("EndedAt"):
            verdict = f" ({a['Resume']})" if a.get("Resume") not in (None, "fresh-start") else ""
            events.append((a["EndedAt"], f"attempt {n}: ended {a.get('Outcome')}{verdict}"))
    events.sort(key=lambda e: e[0])
    return [f"+{at - start:7.1f}s  {text}" for at, text in events]
