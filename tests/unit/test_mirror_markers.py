"""SageMaker's marker files beside each checkpoint the mirror uploads: `<file>.sagemaker-uploading`
while its upload is in flight, `<file>.sagemaker-uploaded` after it; local only, never uploaded."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from moto.s3.models import S3Backend

from emulator.checkpoints.sagemaker_names import is_marker
from tests.unit.test_checkpoint_mirror import Running, assert_final, keys, wait_for


def test_markers_are_written_locally_and_never_uploaded(local: Path, uri: str, client: Any):
    run = Running(local, uri, client, markers=True)
    with run.mirror:
        (local / "model.pt").write_bytes(b"m")
        run.wait_synced()
        wait_for(
            lambda: (local / "model.pt.sagemaker-uploaded").exists(),
            5,
            lambda: f"no uploaded marker: {sorted(p.name for p in local.iterdir())}",
        )
        assert not (local / "model.pt.sagemaker-uploading").exists()
        assert_final(run)
        assert keys(client, uri) == ["model.pt"]
    assert [e.path for e in run.events] == ["model.pt"]
    assert not any(is_marker(e.path) for e in run.events)


def test_uploading_marker_exists_while_the_upload_is_in_flight(
        local: Path, uri: str, client: Any, monkeypatch: pytest.MonkeyPatch):
    # The S3 server (moto, in this process) holds the PUT open: the mirror is mid-upload.
    arrived, release = threading.Event(), threading.Event()
    put_object = S3Backend.put_object

    def held_put(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        if key_name.endswith("held.pt"):
            arrived.set()
            release.wait(30)
        return put_object(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", held_put)
    run = Running(local, uri, client, markers=True)
    with run.mirror:
        try:
            (local / "held.pt").write_bytes(b"h" * 1000)
            assert arrived.wait(10), "the upload never reached S3"
            assert (local / "held.pt.sagemaker-uploading").exists()
            assert not (local / "held.pt.sagemaker-uploaded").exists()
            assert keys(client, uri) == []
        finally:
            release.set()
        wait_for(lambda: (local / "held.pt.sagemaker-uploaded").exists(), 10,
                 lambda: f"no uploaded marker: {sorted(p.name for p in local.iterdir())}")
        assert not (local / "held.pt.sagemaker-uploading").exists()
        assert_final(run)
        assert keys(client, uri) == ["held.pt"]
