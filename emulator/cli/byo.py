"""Bring your own container, offline: `smemu run --build DIR` and `--code DIR`.

`--build DIR` builds (or reuses, by content) the image of DIR/Dockerfile before the job;
`--code DIR` mounts DIR read-only at /opt/ml/code in every container, so an edited script runs
without a rebuild (SageMaker's local mode mounts `source_dir` the same way). Script mode needs
no Dockerfile at all: `--code` alone runs on the sagemaker-training toolkit image, with
`--entry-point` (SAGEMAKER_PROGRAM) naming the script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import click

from emulator.errors import EmulatorError
from emulator.runtime.image_build import build_image, image_environment

TOOLKIT_IMAGE = "smemu-toolkit-trainer:latest"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"  # the toolkit's name for the entry point
# A SageMaker tag value (the host path travels in the smemu:code-dir tag).
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{1,256}$")


@dataclass(frozen=True)
class CodeMount:
    host_dir: str
    container_path: str
    entry_point: str | None  # SAGEMAKER_PROGRAM to set, if --entry-point was given


def training_image(image: str | None, build: Path | None, code: Path | None,
                   quiet: bool) -> str | None:
    """The image to run: built from --build DIR, else --image, else the toolkit image when
    only --code is given (script mode)."""
    if build is not None:
        return _build(build, image, quiet)
    if image is None and code is not None:
        _say(quiet, f"no --image: script mode on {TOOLKIT_IMAGE} (the sagemaker-training "
                    "toolkit runs your entry point)")
        return TOOLKIT_IMAGE
    return image


def code_mount(code: Path, container_path: str, entry_point: str | None, image: str,
               environment: dict[str, str]) -> CodeMount:
    """Check --code DIR (and the entry point the job will run from it) before any job exists."""
    if not code.is_dir():
        raise EmulatorError(f"--code {code}: no such directory")
    host_dir = str(code.resolve())
    if not _TAG_VALUE.match(host_dir):
        raise EmulatorError(
            f"--code {code}: smemu passes the directory's path ({host_dir}) in a SageMaker tag, "
            "which allows at most 256 letters, digits, spaces and _.:/=+-@; move or link the "
            "directory to such a path")
    if not container_path.startswith("/"):
        raise EmulatorError(f"--code-path {container_path}: an absolute container path, "
                            "like /opt/ml/code")
    program = entry_point or environment.get(PROGRAM_ENV)
    source = "--entry-point" if entry_point else None
    if program is None:
        program = (image_environment(image) or {}).get(PROGRAM_ENV)
        source = f"the image's {PROGRAM_ENV}" if program else None
    elif source is None:
        source = f"-e {PROGRAM_ENV}"
    if program is not None and not (code / program).is_file():
        raise EmulatorError(
            f"--code {code}: no entry point {program} in it ({source}); pass "
            "--entry-point FILE to name the script to run")
    return CodeMount(host_dir, container_path, entry_point)


def _build(context: Path, tag: str | None, quiet: bool) -> str:
    _say(quiet, f"building the training image from {context}/Dockerfile ...")
    built = build_image(context, tag, progress=lambda line: click.echo(f"  | {line}", err=True))
    if built.cached:
        _say(quiet, f"image {built.tag} is up to date ({context} unchanged since it was built)")
    else:
        _say(quiet, f"built {built.tag}")
    return built.tag


def _say(quiet: bool, message: str) -> None:
    click.echo(message, err=quiet)
