"""Labels on everything the emulator creates, so cleanup can always find it."""

from __future__ import annotations

import os
from pathlib import Path

NAMESPACE = "smemu"
MANAGED = "smemu.managed"
JOB = "smemu.job"
ATTEMPT = "smemu.attempt"
HOST = "smemu.host"
CPU_LIMIT = "smemu.cpu-limit"  # CPUs a training container may use (--instance-limits)
MEMORY_LIMIT = "smemu.memory-limit"  # ... and its memory, in bytes
POOL = "smemu.pool"  # a network of the endpoint's pool: no job's, whichever job it serves
SERVER = "smemu.server"  # the id of the endpoint process that created it
PID = "smemu.pid"  # that process's pid ...
PID_START = "smemu.pid-start"  # ... and its start time, which tells a reused pid from it


def server_labels(server_id: str) -> dict[str, str]:
    """What the endpoint process itself runs (its S3 gateway)."""
    return {MANAGED: "true", SERVER: server_id, **owner_labels()}


def pool_labels(server_id: str) -> dict[str, str]:
    """A network of the endpoint's pool: its own, lent to one job at a time."""
    return {**server_labels(server_id), POOL: "true"}


def job_labels(server_id: str, job_name: str) -> dict[str, str]:
    return {MANAGED: "true", SERVER: server_id, JOB: job_name, **owner_labels()}


def owner_labels() -> dict[str, str]:
    """This process (the endpoint's) as the owner: `smemu cleanup` leaves a live one's be."""
    pid = os.getpid()
    out = {PID: str(pid)}
    start = process_start(pid)
    if start is not None:
        out[PID_START] = start
    return out


def process_start(pid: int) -> str | None:
    """The process's start time (clock ticks since boot, /proc/PID/stat field 22), or None
    where there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None
