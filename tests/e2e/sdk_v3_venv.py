"""A virtual environment with the SageMaker Python SDK v3, for the tests that drive ModelTrainer.

SDK v3 cannot live beside v2 (the suite's `sagemaker` 2.x): both are the `sagemaker` package.
So v3 gets its own venv, built once from the package index and cached under build/ (keyed by
the requirement; a lock makes parallel test processes build it once). `make setup` builds it
(`python -m tests.e2e.sdk_v3_venv`), and the test fixture builds it if it is missing.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

# ModelTrainer is in sagemaker-train, the training part of `pip install sagemaker` (3.x).
REQUIREMENTS = ("sagemaker-train>=1.27,<2", "sagemaker-core>=2.27,<3")
BUILD_DIR = Path(__file__).resolve().parents[2] / "build"
INSTALL_TIMEOUT_S = 1800.0


def venv_dir() -> Path:
    key = hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()[:10]
    return BUILD_DIR / f"sdk-v3-{key}"


def python_of(directory: Path) -> Path:
    return directory / "bin" / "python"


def ensure_sdk_v3() -> Path:
    """The python of the SDK v3 venv, built first if needed ($SMEMU_SDK_V3_PYTHON: a python
    that has SDK v3 already); raises RuntimeError with pip's output when it cannot be built
    (e.g. the package index is unreachable)."""
    given = os.environ.get("SMEMU_SDK_V3_PYTHON")
    if given:
        return Path(given)
    directory = venv_dir()
    stamp = directory / ".installed"
    if stamp.exists():
        return python_of(directory)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    with open(BUILD_DIR / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building it
        if not stamp.exists():
            _build(directory)
            stamp.write_text("\n".join(REQUIREMENTS) + "\n")
    return python_of(directory)


def _build(directory: Path) -> None:
    print(f"[smemu setup] building {directory} with {', '.join(REQUIREMENTS)} "
          "(SageMaker Python SDK v3, for its tests) ...", file=sys.stderr, flush=True)
    venv.EnvBuilder(clear=True, with_pip=True).create(directory)
    command = [str(python_of(directory)), "-m", "pip", "install", "--quiet",
               "--disable-pip-version-check", *REQUIREMENTS]
    done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                          env={**os.environ, "PIP_PROGRESS_BAR": "off"})
    if done.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed ({done.returncode}); is the package "
                           f"index reachable?\n{done.stdout[-3000:]}{done.stderr[-3000:]}")


if __name__ == "__main__":
    print(ensure_sdk_v3())
