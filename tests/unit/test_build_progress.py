"""images/build.sh on a terminal keeps one line up to date with the build's step and time; piped,
it prints nothing of it. The script's own function, run by bash against a stand-in `docker`."""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE_DOCKER = """#!/bin/sh
for i in 1 2 3; do echo "Step $i/3 : RUN thing"; sleep 0.6; done
exit ${FAKE_EXIT:-0}
"""


def run_build(tmp_path: Path, *, terminal: bool, exit_code: int = 0) -> tuple[int, str]:
    script = (ROOT / "images" / "build.sh").read_text()
    function = re.search(r"^build_showing_steps\(\) \{.*?^\}", script, re.S | re.M)
    assert function, "images/build.sh has no build_showing_steps function"
    (tmp_path / "docker").write_text(FAKE_DOCKER)
    (tmp_path / "docker").chmod(0o755)
    command = ["bash", "-c", f'{function.group(0)}\nbuild_showing_steps smemu-x:latest '
               f'"$(date +%s)" "{tmp_path}/out" build .']
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}",
           "FAKE_EXIT": str(exit_code)}
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
        return done.returncode, done.stdout
    controller, child = pty.openpty()
    process = subprocess.Popen(command, stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return process.wait(timeout=30), b"".join(chunks).decode()


def test_on_a_terminal_the_step_and_time_are_shown_in_place(tmp_path: Path) -> None:
    code, shown = run_build(tmp_path, terminal=True)
    assert code == 0
    assert "\r\x1b[K[smemu build] building smemu-x:latest: Step 3/3, " in shown
    assert "Step 1/3" in shown
    assert (tmp_path / "out").read_text().count("Step") == 3  # the build's output, kept


def test_piped_it_prints_nothing_and_a_failure_is_returned(tmp_path: Path) -> None:
    assert run_build(tmp_path, terminal=False) == (0, "")
    code, _ = run_build(tmp_path, terminal=False, exit_code=3)
    assert code == 3
    code, _ = run_build(tmp_path, terminal=True, exit_code=3)
    assert code == 3
