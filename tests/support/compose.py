"""The top-level docker-compose.yml, brought up from a clean copy of the checkout (nothing
pytest-specific in here).

Each `ComposeStack` has its own compose project name, ports and host directory, so stacks of
several test processes run side by side on one Docker engine; leaving the context brings the
stack down with its volumes and checks that nothing of it is left.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

from emulator.server.daemon import health
from emulator.testing import wait_until
from tests.support.endpoint import free_port
from tests.support.images import SESSION_ID

ROOT = Path(__file__).resolve().parents[2]
# What a user's shell may set that would change which project, file or profile compose uses.
COMPOSE_ENV = ("COMPOSE_PROFILES", "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "SMEMU_PORT",
               "SMEMU_HOST_DIR", "SMEMU_MINIO_IMAGE", "SMEMU_S3_BACKEND")


def compose_command() -> list[str] | None:
    """`docker compose` (the plugin) where it exists, else Debian's `docker-compose`."""
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        probe = subprocess.run([*command, "version"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return command
    return None


def clean_checkout(destination: Path) -> Path:
    """The files of this checkout that git tracks (or would: untracked, not ignored) copied
    to `destination`: no wheels, no venv, no state, as after `git clone`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if not source.is_file():  # deleted in the work tree, not yet in the index
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


class ComposeStack:
    """`with ComposeStack(checkout, docker_client) as stack:` runs `docker-compose up -d` in
    `checkout` with a unique project (``profile``: a --profile to name; ``env``: more
    settings) and waits until the endpoint answers at ``stack.url``."""

    def __init__(self, checkout: Path, docker_client: Any, *, profile: str | None = None,
                 env: dict[str, str] | None = None, start_timeout: float = 120.0) -> None:
        command = compose_command()
        if command is None:
            raise RuntimeError("no docker-compose: `make setup` installs Debian's package")
        self.command = command
        self.checkout = checkout
        self.docker = docker_client
        self.profile = profile
        self.project = f"smemu-test-{SESSION_ID}-{uuid.uuid4().hex[:6]}".lower()
        self.port = free_port()
        # Short: the S3 gateway's unix socket lives under it (paths are limited to ~108 bytes).
        self.host_dir = Path(tempfile.mkdtemp(prefix="smemu-compose-"))
        self.env = {key: value for key, value in os.environ.items() if key not in COMPOSE_ENV}
        self.env.update({"SMEMU_PORT": str(self.port), "SMEMU_HOST_DIR": str(self.host_dir),
                         **(env or {})})
        self.start_timeout = start_timeout
        self.server_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        profile = ["--profile", self.profile] if self.profile else []
        return subprocess.run([*self.command, "-p", self.project, *profile, *args],
                              cwd=self.checkout, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def logs(self) -> str:
        result = self.compose("logs", "--no-color", timeout=60)
        return result.stdout + result.stderr

    def __enter__(self) -> ComposeStack:
        try:
            up = self.compose("up", "-d")
            if up.returncode != 0:
                raise RuntimeError(f"docker-compose up failed:\n{up.stdout}{up.stderr}")
            doc = wait_until(lambda: health(self.url), timeout=self.start_timeout, interval=0.5)
            if doc is None:
                raise RuntimeError(f"the compose endpoint never answered at {self.url}:\n"
                                   f"{self.logs()}")
            self.server_id = str(doc["server_id"])
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def down(self) -> None:
        """`down -v`: containers, network and volumes; then the host directory."""
        try:
            result = self.compose("down", "-v", "--remove-orphans", "--timeout", "90")
            if result.returncode != 0:
                raise RuntimeError(f"docker-compose down failed:\n{result.stdout}"
                                   f"{result.stderr}")
        finally:
            self._remove_host_dir()

    def running_services(self) -> list[str]:
        """The services of this stack with a running container, sorted."""
        containers = self.docker.containers.list(
            filters={"label": f"com.docker.compose.project={self.project}"}, ignore_removed=True)
        return sorted(c.labels["com.docker.compose.service"] for c in containers)

    def leftovers(self) -> list[str]:
        """What of this stack (the project's containers, networks and volumes; what its
        endpoint started) Docker still has."""
        found: list[str] = []
        labels = [f"com.docker.compose.project={self.project}"]
        if self.server_id:
            labels.append(f"smemu.server={self.server_id}")
        for label in labels:
            found += [f"container {c.name}" for c in self.docker.containers.list(
                all=True, filters={"label": label}, ignore_removed=True)]
            found += [f"network {n.name}" for n in self.docker.networks.list(
                filters={"label": label})]
            found += [f"volume {v.name}" for v in self.docker.volumes.list(
                filters={"label": label})]
        return found

    def _remove_host_dir(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)
        if self.host_dir.exists():  # files the root-run containers wrote, we not being root
            self.docker.containers.run(
                "smemu-base:latest", ["find", "/target", "-mindepth", "1", "-delete"],
                remove=True, network_mode="none",
                volumes={str(self.host_dir): {"bind": "/target", "mode": "rw"}})
            shutil.rmtree(self.host_dir, ignore_errors=True)
