"""Fixtures shared by the e2e files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.sdk_v3_venv import ensure_sdk_v3


@pytest.fixture(scope="session")
def sdk_v3_python() -> Path:
    """The python of the SDK v3 venv (built here if `make test` has not built it yet)."""
    try:
        return ensure_sdk_v3()
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        pytest.fail(f"the SageMaker SDK v3 venv could not be built (run `make sdk-v3`): {err}")
