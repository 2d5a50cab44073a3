"""`smemu up / down / status`: the endpoint as a background process with its state on disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.errors import EndpointUnavailable

START_TIMEOUT_S = 60.0


def state_dir() -> Path:
    """$SMEMU_STATE_DIR, else $XDG_STATE_HOME/smemu, else ~/.local/state/smemu."""
    explicit = os.environ.get("SMEMU_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smemu"


def default_endpoint_url(port: int | None = None) -> str:
    env = os.environ.get("SMEMU_ENDPOINT_URL")
    if env and port is None:
        return env.rstrip("/")
    return f"http://127.0.0.1:{port or contract.DEFAULT_PORT}"


def health(url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The endpoint's health document, or None when nothing (or something else) answers."""
    try:
        with urllib.request.urlopen(f"{url}/_smemu/health", timeout=timeout) as response:
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("status") == "ok" else None


@dataclass(frozen=True)
class DaemonFiles:
    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / "endpoint.json"

    @property
    def log_file(self) -> Path:
        return self.root / "endpoint.log"

    def read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.pid_file.read_text()))
        except (OSError, ValueError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def up(port: int = contract.DEFAULT_PORT, root: Path | None = None,
       extra_args: list[str] | None = None) -> dict[str, Any]:
    """Start the endpoint in the background unless one already answers; returns its record."""
    files = DaemonFiles(root or state_dir())
    url = default_endpoint_url(port)
    running = health(url)
    if running:
        record = files.read() or {}
        return {**record, "url": url, "already_running": True, **running}
    files.root.mkdir(parents=True, exist_ok=True)
    log = files.log_file.open("ab")
    command = [sys.executable, "-m", "emulator", "serve", "--port", str(port),
               *(extra_args or [])]
    env = {**os.environ, "SMEMU_STATE_DIR": str(files.root)}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    record = {"pid": process.pid, "port": port, "url": url, "log": str(files.log_file),
              "started": time.time()}
    files.pid_file.write_text(json.dumps(record))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if health(url, timeout=1.0):
            return {**record, "already_running": False}
        if process.poll() is not None:
            break
        time.sleep(0.2)
    tail = files.log_file.read_text(errors="replace")[-2000:]
    if process.poll() is None:
        process.terminate()
    files.pid_file.unlink(missing_ok=True)
    raise EndpointUnavailable(f"the endpoint did not start on {url}. Its log:\n{tail}")


def down(root: Path | None = None, timeout: float = 60.0) -> bool:
    """Stop the background endpoint; False when none was running."""
    files = DaemonFiles(root or state_dir())
    record = files.read()
    if not record or not _alive(int(record["pid"])):
        files.pid_file.unlink(missing_ok=True)
        return False
    pid = int(record["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    files.pid_file.unlink(missing_ok=True)
    return True


def status(port: int | None = None, root: Path | None = None) -> dict[str, Any]:
    files = DaemonFiles(root or state_dir())
    record = files.read() or {}
    url = default_endpoint_url(port or record.get("port"))
    answer = health(url)
    return {"running": bool(answer), "url": url, **record, **(answer or {})}
