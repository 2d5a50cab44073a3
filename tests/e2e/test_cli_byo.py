"""`smemu run --build DIR` and `--code DIR`: the offline bring-your-own-container loop, real
Docker, the CLI as a subprocess."""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess, toy_value
from tests.support.images import session_image

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
TOOLKIT_SCRIPT = ROOT / "images" / "toolkit-trainer" / "train.py"
# An ARG BASE_IMAGE default that no engine has: the build must fall back to smemu-base.
DOCKERFILE = """\
ARG BASE_IMAGE=smemu-test-no-such-base:absent
FROM ${BASE_IMAGE}
RUN printf '#!/bin/sh\\necho "message: $(cat /message.txt)"\\n' > /usr/local/bin/train \\
    && chmod 0755 /usr/local/bin/train
COPY message.txt /message.txt
"""


@pytest.fixture()
def byo_image(docker_client: Any) -> Iterator[str]:
    """A tag of this session's, removed at the end (a rebuild under it removes the image it
    replaced: `smemu run --build` leaves no untagged image of its own behind)."""
    import docker.errors

    tag = session_image("smemu-test-byo")
    yield tag
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(tag, force=True)


def _run(endpoint: EndpointProcess, job_name: str, *args: str) -> Any:
    return smemu("run", "--endpoint-url", endpoint.url, "--job-name", job_name, *args)


def test_build_runs_the_dockerfile_image_and_rebuilds_only_on_change(
        endpoint: EndpointProcess, tmp_path: Path, job_name: str, byo_image: str,
        docker_client: Any) -> None:
    context = tmp_path / "my-trainer"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE)
    (context / "message.txt").write_text("first")

    built = _run(endpoint, f"{job_name}-1", "--build", str(context), "--image", byo_image)
    assert built.returncode == 0, built.stderr
    assert "building on smemu-base:latest" in built.stdout + built.stderr
    assert "| Step 1/" in built.stderr  # docker's progress, as it builds
    assert f"built {byo_image}" in built.stdout
    assert "message: first" in built.stdout  # the job ran the image just built
    labels = docker_client.images.get(byo_image).labels
    assert labels["smemu.build.context"] == str(context.resolve())

    again = _run(endpoint, f"{job_name}-2", "--build", str(context), "--image", byo_image)
    assert again.returncode == 0, again.stderr
    assert f"image {byo_image} is up to date" in again.stdout
    assert "| Step" not in again.stderr
    assert docker_client.images.get(byo_image).labels == labels

    (context / "message.txt").write_text("second")
    edited = _run(endpoint, f"{job_name}-3", "--build", str(context), "--image", byo_image)
    assert edited.returncode == 0, edited.stderr
    assert f"built {byo_image}" in edited.stdout
    assert "message: second" in edited.stdout
    assert "Using cache" in edited.stderr  # the unchanged first steps: Docker's layer cache


def test_build_errors_are_clear_and_create_no_job(endpoint: EndpointProcess, tmp_path: Path,
                                                  job_name: str, byo_image: str,
                                                  sagemaker: Any) -> None:
    no_dockerfile = _run(endpoint, job_name, "--build", str(tmp_path), "--image", byo_image)
    assert no_dockerfile.returncode == 2
    assert f"smemu: --build {tmp_path}: no Dockerfile in it" in no_dockerfile.stderr
    (tmp_path / "Dockerfile").write_text("FROM smemu-base:latest\nRUN exit 3\n")
    failing = _run(endpoint, job_name, "--build", str(tmp_path), "--image", byo_image)
    assert failing.returncode == 2
    assert "returned a non-zero code: 3" in failing.stderr
    assert f"smemu: docker build of {tmp_path.resolve()} failed" in failing.stderr
    assert not sagemaker.list_training_jobs(NameContains=job_name)["TrainingJobSummaries"]


def test_code_script_mode_edit_interrupt_resume(endpoint: EndpointProcess, tmp_path: Path,
                                                bucket: str, job_name: str, s3: Any) -> None:
    """--code alone: script mode on the toolkit image, the script from the host directory."""
    code = tmp_path / "src"
    code.mkdir()
    shutil.copy(TOOLKIT_SCRIPT, code / "my_train.py")
    common = ("--code", str(code), "--entry-point", "my_train.py", "--spot", "--max-wait", "600",
              "--checkpoint-s3-uri", f"s3://{bucket}/code-ckpt", "-H", "total_steps=20",
              "-H", "seconds_per_step=0.15", "-H", "checkpoint_interval=4")
    first = _run(endpoint, f"{job_name}-1", *common, "--interrupt", "checkpoint=2/hard")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "script mode on smemu-toolkit-trainer:latest" in first.stdout
    resumed = re.search(r"resumed from checkpoint at step (\d+)", first.stdout)
    assert resumed and 8 <= int(resumed.group(1)) < 20, first.stdout
    assert f"training complete: step 20 value={toy_value(20)}" in first.stdout

    # An edit on the host runs at once, without a rebuild; the mount is read-only.
    script = (code / "my_train.py").read_text()
    (code / "my_train.py").write_text(script.replace(
        "def main() -> int:\n",
        "def main() -> int:\n"
        "    try:\n"
        "        open('/opt/ml/code/scratch', 'w')\n"
        "    except OSError as err:\n"
        "        log(f'edited script; code dir writable: no ({err.strerror})')\n"))
    second = _run(endpoint, f"{job_name}-2", *common)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "edited script; code dir writable: no (Read-only file system)" in second.stdout
    assert "resumed from checkpoint at step 20" in second.stdout  # the same prefix: done
    assert not (code / "scratch").exists()


def test_code_errors_name_the_missing_entry_point(endpoint: EndpointProcess, tmp_path: Path,
                                                  job_name: str, sagemaker: Any) -> None:
    missing_dir = _run(endpoint, job_name, "--code", str(tmp_path / "absent"))
    assert missing_dir.returncode == 2
    assert "no such directory" in missing_dir.stderr
    image_default = _run(endpoint, job_name, "--code", str(tmp_path))
    assert image_default.returncode == 2
    assert (f"smemu: --code {tmp_path}: no entry point train.py in it (the image's "
            "SAGEMAKER_PROGRAM); pass --entry-point FILE") in image_default.stderr
    named = _run(endpoint, job_name, "--code", str(tmp_path), "--entry-point", "fit.py")
    assert named.returncode == 2
    assert "no entry point fit.py in it (--entry-point)" in named.stderr
    alone = _run(endpoint, job_name, "--entry-point", "fit.py", "--image", "x")
    assert alone.returncode == 2
    assert "--entry-point names a script in --code DIR: add --code" in alone.stderr
    assert not sagemaker.list_training_jobs(NameContains=job_name)["TrainingJobSummaries"]
