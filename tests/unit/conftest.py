"""Unit-test fixtures: one in-process moto S3 over real HTTP (override `s3` to use another)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit._s3server import MotoS3


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    """A moto S3 server on a free loopback port, per test module (outage tests restart it)."""
    server = MotoS3()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(s3: MotoS3) -> Any:
    return s3.client()


@pytest.fixture
def uri(s3: MotoS3, client: Any) -> str:
    """A fresh bucket's checkpoint prefix (the checkpoint tests' default; override per file)."""
    return f"s3://{s3.new_bucket(client)}/jobs/ckpt"


@pytest.fixture
def local(tmp_path: Path) -> Path:
    """An empty local checkpoint directory."""
    path = tmp_path / "checkpoints"
    path.mkdir()
    return path
