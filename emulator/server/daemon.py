"""`smemu up / down / status`: the endpoint as a background process with its state on disk."""

from __future__ import annotations

import contextlib
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


def shutdown_timeout(budget: float = contract.DEFAULT_SHUTDOWN_BUDGET_S) -> float:
    """How long an endpoint with this shutdown budget may take to exit after SIGTERM: the
    jobs' grace, their uploads, then removing containers and closing (before a SIGKILL)."""
    return budget + contract.SHUTDOWN_UPLOAD_ALLOWANCE_S + 30.0


SHUTDOWN_TIMEOUT_S = shutdown_timeout()


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
    """The record and log of the background endpoint on one port."""

    root: Path
    port: int

    @property
    def pid_file(self) -> Path:
        return self.root / f"endpoint-{self.port}.json"

    @property
    def log_file(self) -> Path:
        return self.root / f"endpoint-{self.port}.log"

    def read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.pid_file.read_text()))
        except (OSError, ValueError):
            return None


def recorded_ports(root: Path) -> list[int]:
    ports = []
    for path in root.glob("endpoint-*.json"):
        with contextlib.suppress(ValueError):
            ports.append(int(path.stem.split("-", 1)[1]))
    return sorted(ports)


def _is_our_endpoint(pid: int) -> bool:
    """Alive, and still a `smemu serve` (not a process that reused the pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc here: trust the record
    return b"emulator" in cmdline and b"serve" in cmdline


def up(port: int = contract.DEFAULT_PORT, root: Path | None = None,
       extra_args: list[str] | None = None,
       shutdown_budget: float = contract.DEFAULT_SHUTDOWN_BUDGET_S) -> dict[str, Any]:
    """Start the endpoint in the background unless one already answers; returns its record."""
    files = DaemonFiles(root or state_dir(), port)
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
              "started": time.time(), "shutdown_budget": shutdown_budget}
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


def down(port: int | None = None, root: Path | None = None,
         timeout: float | None = None) -> list[int]:
    """Stop the background endpoint on `port` (default: every recorded one); the ports stopped.
    SIGTERM: the endpoint stops its jobs within its shutdown budget and saves them; SIGKILL
    only after `timeout` (default: what its recorded budget allows, see shutdown_timeout)."""
    base = root or state_dir()
    stopped = []
    for each in [port] if port is not None else recorded_ports(base):
        files = DaemonFiles(base, each)
        record = files.read()
        if record and _is_our_endpoint(int(record["pid"])):
            pid = int(record["pid"])
            os.kill(pid, signal.SIGTERM)
            budget = float(record.get("shutdown_budget", contract.DEFAULT_SHUTDOWN_BUDGET_S))
            deadline = time.monotonic() + (shutdown_timeout(budget) if timeout is None
                                           else timeout)
            while time.monotonic() < deadline and _is_our_endpoint(pid):
                time.sleep(0.2)
            if _is_our_endpoint(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(each)
        files.pid_file.unlink(missing_ok=True)
    return stopped


def status(port: int, root: Path | None = None) -> dict[str, Any]:
    """The endpoint on `port`: {"running": bool, "url": ..., its record, its health document}."""
    record = DaemonFiles(root or state_dir(), port).read() or {}
    url = default_endpoint_url(port)
    answer = health(url)
    return {"running": bool(answer), "url": url, **record, **(answer or {})}


def running_endpoints(root: Path | None = None) -> list[dict[str, Any]]:
    """Every endpoint that answers: the background ones recorded in the state directory, and
    one on the default port (e.g. a `smemu serve` in another terminal)."""
    base = root or state_dir()
    ports = sorted({*recorded_ports(base), contract.DEFAULT_PORT})
    return [info for info in (status(port, base) for port in ports) if info["running"]]
