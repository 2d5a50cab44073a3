"""`smemu serve` as a child process on a free port, with its log kept in its state directory."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from emulator.faults.plan import parse_duration
from emulator.server.daemon import health, shutdown_timeout
from emulator.testing.readiness import EndpointStartError, wait_until

# What `smemu serve` prints once it listens: the port it got, when it was asked for port 0.
_LISTENING = re.compile(r"smemu endpoint (\w+) listening on (http://\S+)")


class ServeProcess:
    """Context manager around `python -m emulator serve --port PORT` (0: any free port).

    `start()` returns once /_smemu/health answers with this process's server id; when the
    process dies or does not answer within `start_timeout`, it is stopped and the error carries
    its log. `stop()` stops every job (SIGTERM, as Ctrl-C does) and is idempotent.
    """

    def __init__(self, state_dir: str | os.PathLike[str], serve_args: Sequence[str] = (), *,
                 port: int = 0, start_timeout: float = 60.0,
                 env: Mapping[str, str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.serve_args = tuple(serve_args)
        self.requested_port = port
        self.start_timeout = start_timeout
        self.env = dict(os.environ if env is None else env)
        self.process: subprocess.Popen[bytes] | None = None
        self.server_id = ""
        self.url = ""  # set once the process says where it listens

    @property
    def log_path(self) -> Path:
        return self.state_dir / "serve.log"

    @property
    def returncode(self) -> int | None:
        """The exit status once the process ended, else None."""
        return self.process.poll() if self.process is not None else None

    @property
    def shutdown_timeout(self) -> float:
        """How long the process may take to stop, by its --shutdown-budget."""
        args = list(self.serve_args)
        budget = None
        for i, arg in enumerate(args):
            if arg == "--shutdown-budget" and i + 1 < len(args):
                budget = args[i + 1]
            elif arg.startswith("--shutdown-budget="):
                budget = arg.split("=", 1)[1]
        return shutdown_timeout(parse_duration(budget)) if budget else shutdown_timeout()

    def log_text(self) -> str:
        """Everything the process printed so far (its stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self) -> ServeProcess:
        if self.process is not None:
            return self
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "emulator", "serve", "--port",
                   str(self.requested_port), *self.serve_args]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**self.env, "SMEMU_STATE_DIR": str(self.state_dir)})
        try:
            ready = wait_until(self._ready, timeout=self.start_timeout,
                               dead=lambda: self.process is None or
                               self.process.poll() is not None)
        except BaseException:
            self.stop()
            raise
        if ready is None:
            exited = self.process.poll()
            self.stop()
            why = (f"exited with status {exited}" if exited is not None
                   else f"did not answer within {self.start_timeout:g}s")
            raise EndpointStartError(f"`{' '.join(command)}` {why}", self.log_text())
        return self

    def _ready(self) -> str | None:
        """The server id once this process (not another one on the port) answers."""
        if not self.url:
            found = _LISTENING.search(self.log_text())
            if found is None:
                return None
            self.server_id, self.url = found.group(1), found.group(2)
        doc = health(self.url, timeout=1.0)
        return self.server_id if doc and doc.get("server_id") == self.server_id else None

    def stop(self) -> None:
        """SIGTERM (the endpoint stops its jobs, saves them and removes their containers), then
        SIGKILL if it takes longer than its shutdown budget allows. Idempotent."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self.shutdown_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
