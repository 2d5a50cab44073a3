"""`smemu serve` listens on loopback by default; anywhere else needs --allow-remote and warns."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.endpoint import free_port


def smemu(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "SMEMU_STATE_DIR": str(tmp_path / "state")}
    return subprocess.Popen([sys.executable, "-m", "emulator", "serve", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_healthy(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            urllib.request.urlopen(url + "/_smemu/health", timeout=2)
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"no health answer from {url}")


def stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    _, stderr = process.communicate(timeout=60)
    return stderr


def test_default_host_is_loopback(tmp_path: Path) -> None:
    help_text = subprocess.run([sys.executable, "-m", "emulator", "serve", "--help"],
                               capture_output=True, text=True, check=True).stdout
    assert "default: 127.0.0.1" in help_text and "--allow-remote" in help_text
    port = free_port()
    process = smemu(tmp_path, "--port", str(port))
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        stderr = stop(process)
    assert "WARNING" not in stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_non_loopback_host_is_refused_without_the_flag(tmp_path: Path, host: str) -> None:
    result = subprocess.run([sys.executable, "-m", "emulator", "serve", "--host", host,
                             "--port", str(free_port())], capture_output=True, text=True,
                            timeout=60, env={**os.environ,
                                             "SMEMU_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2, result.stderr
    assert f"refusing to listen on {host}" in result.stderr
    assert "--allow-remote" in result.stderr
    assert "Traceback" not in result.stderr


def test_non_loopback_host_with_the_flag_listens_and_warns_loudly(tmp_path: Path) -> None:
    port = free_port()
    process = smemu(tmp_path, "--host", "0.0.0.0", "--allow-remote", "--port", str(port))
    try:
        wait_healthy(f"http://127.0.0.1:{port}", process)
    finally:
        stderr = stop(process)
    assert "WARNING: smemu is listening on 0.0.0.0, not on loopback" in stderr
    assert "no authentication" in stderr
