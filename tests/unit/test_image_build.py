"""`smemu run --build`'s pure parts: the content digest, the default tag, the base argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulator.errors import EmulatorError
from emulator.runtime.image_build import (
    base_image_default,
    check_context,
    context_digest,
    default_tag,
)


def _context(tmp_path: Path) -> Path:
    context = tmp_path / "My Trainer"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM smemu-base:latest\nCOPY train.py /t.py\n")
    (context / "train.py").write_text("print('v1')\n")
    return context


def test_digest_follows_what_docker_would_send(tmp_path: Path) -> None:
    context = _context(tmp_path)
    first = context_digest(context)
    assert context_digest(context) == first  # stable
    (context / "train.py").write_text("print('v2')\n")
    edited = context_digest(context)
    assert edited != first
    (context / "train.py").chmod(0o755)
    assert context_digest(context) != edited  # the executable bit is content too
    (context / "notes.log").write_text("scratch")
    with_log = context_digest(context)
    assert with_log != edited
    (context / ".dockerignore").write_text("# scratch files\n*.log\n")
    ignoring = context_digest(context)
    (context / "notes.log").write_text("changed scratch")
    assert context_digest(context) == ignoring  # an ignored file is not part of the image


def test_default_tag_names_the_directory_and_the_digest(tmp_path: Path) -> None:
    context = _context(tmp_path)
    assert default_tag(context, "0123456789abcdef" * 4) == "smemu-build-my-trainer:0123456789ab"


@pytest.mark.parametrize(("dockerfile", "default"), [
    ("ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}\n", "python:3.11-slim"),
    ("# a comment\narg base_image\nFROM $BASE_IMAGE\n", ""),
    ("FROM python:3.11-slim\nARG BASE_IMAGE=x\n", None),  # after FROM: a stage's argument
    ("FROM smemu-base:latest\n", None),
])
def test_base_image_argument(dockerfile: str, default: str | None) -> None:
    assert base_image_default(dockerfile) == default


def test_a_build_context_needs_a_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match="no such directory"):
        check_context(tmp_path / "absent")
    with pytest.raises(EmulatorError, match="no Dockerfile in it"):
        check_context(tmp_path)
    assert check_context(_context(tmp_path)) == (tmp_path / "My Trainer").resolve()
