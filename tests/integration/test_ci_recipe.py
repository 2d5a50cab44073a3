"""examples/ci/interruption-tests.sh run as a CI system would: it builds the toy trainer as a
user's image, runs the user-style tests against it, and keeps the reports of failed tests."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "ci" / "interruption-tests.sh"
PLUGIN = ("-p", "no:smemu", "-p", "emulator.pytest_plugin")  # this tree's plugin
FAST = {"total_steps": 30, "seconds_per_step": 0.1, "checkpoint_interval": 5}


@pytest.fixture()
def user_repo(tmp_path: Path) -> Path:
    """A user's repository: a training image's Dockerfile and interruption tests."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "images" / "toy-trainer", repo)
    tests = repo / "tests" / "interruption"
    tests.mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "test_my_training_resumes.py", tests)
    return repo


@pytest.fixture()
def image_tag(docker_client: Any) -> Iterator[str]:
    tag = f"smemu-ci-recipe-{uuid.uuid4().hex[:8]}:ci"
    yield tag
    with contextlib.suppress(Exception):  # the tag only: its layers are the toy trainer's
        docker_client.images.remove(tag)


def _run(repo: Path, image: str, *pytest_args: str,
         **env: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items()
                 if k not in ("SMEMU_ENDPOINT_URL", "TRAINING_HYPERPARAMETERS")}
    environment = {**inherited, "TRAINING_IMAGE": image, "PYTHON": sys.executable,
                   "DOCKER_BUILD_ARGS": "--network none --build-arg BASE_IMAGE=smemu-base:latest "
                                        "--label smemu.managed=true", **env}
    return subprocess.run(["bash", str(SCRIPT), *PLUGIN, "--smemu-grace-period=20",
                           *pytest_args], cwd=repo, env=environment, capture_output=True,
                          text=True, timeout=900)


def test_the_script_builds_the_image_and_passes_for_a_trainer_that_resumes(
        user_repo: Path, image_tag: str, docker_client: Any) -> None:
    result = _run(user_repo, image_tag)

    assert result.returncode == 0, result.stdout + result.stderr
    assert docker_client.images.get(image_tag).labels["smemu.image"] == "toy-trainer"
    assert "2 passed" in result.stdout
    assert f"building {image_tag} from ." in result.stderr
    assert not (user_repo / "smemu-reports").exists()


def test_the_script_fails_and_keeps_the_reports_for_a_trainer_that_restarts(
        user_repo: Path, image_tag: str) -> None:
    assert _run(user_repo, image_tag, "--collect-only").returncode == 0  # builds the image

    result = _run(user_repo, image_tag, "-k", "after_a_spot_interruption", SKIP_BUILD="1",
                  TRAINING_HYPERPARAMETERS=json.dumps({**FAST, "ignore_checkpoints": "true"}))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "building" not in result.stderr
    assert "attempt 2 restarted from scratch: it never read the restored checkpoint.json" \
        in result.stdout
    assert "job reports kept: 2 file(s) in smemu-reports/" in result.stderr
    kept = sorted(p.name for p in (user_repo / "smemu-reports").rglob("*") if p.is_file())
    assert [Path(name).suffix for name in kept] == [".json", ".log"]
