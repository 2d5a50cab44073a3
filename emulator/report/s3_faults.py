"""What `smemu:s3-faults` did to a job's own S3 traffic, for the terminal summary and the HTML
report: the faults injected by kind, the retries, the delay they caused."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from emulator.faults.s3_injector import DRAWN, OUTAGE, S3FaultCounts

_STATUS = {fault.code: fault.status for fault in DRAWN}


def _kinds(counts: S3FaultCounts) -> list[tuple[str, str, int]]:
    """(short name, label, count) of each kind of fault."""
    kinds = [(code, f"{code} (HTTP {_STATUS[code]})", n)
             for code, n in sorted(counts.errors.items())]
    return [*kinds, ("outage", f"outage ({OUTAGE.code}, HTTP {OUTAGE.status})",
                     counts.outage_refusals)]


def fault_summary(report: Mapping[str, Any]) -> str | None:
    """One line: 'S3 faults: 12 of 340 requests (SlowDown 7, ...), 15 retries ...'."""
    counts = S3FaultCounts.of_report(report)
    if counts is None:
        return None
    kinds = ", ".join(f"{short} {n}" for short, _, n in _kinds(counts))
    return (f"S3 faults: {counts.faults} of {counts.requests} requests ({kinds}); "
            f"{counts.retries} retries, {counts.backoff_seconds:.1f}s waited before them; "
            f"{counts.delay_seconds:.1f}s of latency/bandwidth delay")


def s3_faults_section(report: Mapping[str, Any], spec: str) -> str:
    """The report's S3 faults section ('' for a job without S3 faults)."""
    counts = S3FaultCounts.of_report(report)
    if counts is None:
        return ""
    rows = [("Requests", counts.requests), *[(label, n) for _, label, n in _kinds(counts)],
            ("Retries", counts.retries),
            ("Waited before retries", f"{counts.backoff_seconds:.1f} s"),
            ("Latency and bandwidth delay", f"{counts.delay_seconds:.1f} s")]
    body = "".join(f'<tr><th>{escape(name)}</th><td data-s3-fault="{escape(name)}">'
                   f"{escape(str(value))}</td></tr>" for name, value in rows)
    return (f'<section id="s3-faults"><h2>S3 faults</h2><p><code>{escape(spec)}</code></p>'
            f'<table class="facts">{body}</table></section>')
