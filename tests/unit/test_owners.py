"""Who owns what smemu made: an owner is dead when its pid is gone or was reused."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from emulator.runtime import labels as L
from emulator.runtime.owners import is_orphan, work_dir_orphaned, write_owner


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_owner_labels_name_this_process() -> None:
    labels = L.job_labels("srv", "job")
    assert labels[L.PID] == str(os.getpid())
    assert labels[L.PID_START] == L.process_start(os.getpid())
    assert not is_orphan(labels, set())


def test_a_dead_or_reused_pid_is_an_orphan_and_no_pid_is_left_alone() -> None:
    mine = L.owner_labels()
    assert is_orphan({L.PID: str(_dead_pid())}, set())
    assert is_orphan({**mine, L.PID_START: mine[L.PID_START] + "1"}, set())
    assert not is_orphan({L.MANAGED: "true", L.SERVER: "old"}, set())
    assert not is_orphan({L.SERVER: "live", L.PID: str(_dead_pid())}, {"live"})


def test_work_dir_owner(tmp_path: Path) -> None:
    assert work_dir_orphaned(tmp_path, set()) is None
    write_owner(tmp_path)
    assert work_dir_orphaned(tmp_path, set()) is False
    (tmp_path / "owner.json").write_text(f'{{"{L.PID}": "{_dead_pid()}"}}')
    assert work_dir_orphaned(tmp_path, set()) is True
