"""Byte sizes as smemu's progress lines write them: the endpoint's restore and flush lines and
`smemu run`'s, which reads them back (a module of its own, so that the command imports none of
the checkpoint engine for them)."""

from __future__ import annotations

MiB = 1024 * 1024
PROGRESS_THRESHOLD = 64 * MiB  # a restore, download or flush this large reports its progress


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
