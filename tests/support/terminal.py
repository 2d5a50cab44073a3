"""Run a command with a pseudo-terminal as its output, as a user's shell does."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time


def run_in_terminal(args: list[str], timeout: float = 300) -> tuple[int, str]:
    """Run a command with a pseudo-terminal as its standard output, as a user's shell does."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(args, stdout=terminal, stderr=terminal, stdin=subprocess.DEVNULL,
                               env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    os.close(controller)
    return process.wait(timeout=30), b"".join(chunks).decode(errors="replace")
