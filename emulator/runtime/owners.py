"""Which endpoint process owns what smemu created, and whether that process still lives.

Everything an endpoint creates in Docker carries its pid and the pid's start time (labels), and
its work directory an `owner.json` with the same: `smemu cleanup` removes only what a dead
process left (the start time tells a reused pid from the owner).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from emulator.runtime import labels as L
from emulator.runtime.labels import owner_labels, process_start

OWNER_FILE = "owner.json"


def alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, and is someone else's
    if start is None:
        return True
    now = process_start(pid)
    return now is None or now == start


def is_orphan(labels: Mapping[str, str], live_servers: set[str]) -> bool:
    """Known to be left by a dead endpoint process. Without an owner's pid (made by an
    older smemu) nothing says so: not an orphan, left alone."""
    if labels.get(L.SERVER) in live_servers:
        return False
    pid = labels.get(L.PID, "")
    if not pid.isdigit():
        return False
    return not alive(int(pid), labels.get(L.PID_START))


def write_owner(work_dir: Path) -> None:
    (work_dir / OWNER_FILE).write_text(json.dumps(owner_labels()))


def work_dir_orphaned(work_dir: Path, live_servers: set[str]) -> bool | None:
    """True when the endpoint that owned `work_dir` is dead, False when it lives, None when
    the directory does not say who owned it."""
    try:
        owner = dict(json.loads((work_dir / OWNER_FILE).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return is_orphan({**owner, L.SERVER: work_dir.name}, live_servers)
