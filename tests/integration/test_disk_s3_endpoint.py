"""`smemu serve --s3-backend disk`: the embedded S3 keeps objects under the state directory
across a stop and a crash, streams them (flat memory), and moto still answers the rest."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import psutil
import pytest
from boto3.s3.transfer import TransferConfig

from emulator.storage.backends import s3_root
from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker
MiB = 1024 * 1024
RSS_LIMIT = 512 * MiB


class PeakRss:
    """The endpoint process's peak resident memory while the block runs (sampled, 50 ms)."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _pid(endpoint: EndpointProcess) -> int:
    assert endpoint.process is not None and endpoint.process.process is not None
    return int(endpoint.process.process.pid)


def _versioned_bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})


def test_a_big_checkpoint_goes_up_and_down_in_flat_memory(tmp_path: Path):
    size = 768 * MiB  # moto needs more than twice this in memory (bench/results.md)
    source, back = tmp_path / "ck.bin", tmp_path / "back.bin"
    block = os.urandom(MiB)
    with source.open("wb") as out:
        for _ in range(size // MiB):
            out.write(block)
    transfer = TransferConfig(multipart_threshold=64 * MiB, multipart_chunksize=64 * MiB,
                              max_concurrency=4)
    with EndpointProcess(tmp_path / "state", "--s3-backend", "disk") as endpoint:
        s3 = endpoint.client("s3")
        _versioned_bucket(s3, "big")
        with PeakRss(_pid(endpoint)) as upload:
            s3.upload_file(str(source), "big", "ck/model.bin", Config=transfer)
        with PeakRss(_pid(endpoint)) as download:
            s3.download_file("big", "ck/model.bin", str(back), Config=transfer)
        assert back.stat().st_size == size
        assert upload.peak < RSS_LIMIT, f"upload peak RSS {upload.peak / MiB:.0f} MiB"
        assert download.peak < RSS_LIMIT, f"download peak RSS {download.peak / MiB:.0f} MiB"
        stored = sum(f.stat().st_size for f in s3_root(tmp_path / "state").rglob("*")
                     if f.is_file())
        assert stored >= size  # the bytes are under the state directory


def test_objects_versions_survive_a_stop_and_a_crash(tmp_path: Path):
    state = tmp_path / "state"
    with EndpointProcess(state, "--s3-backend", "disk") as first:
        assert first.health()["s3_backend"] == "disk"
        s3 = first.client("s3")
        _versioned_bucket(s3, "ckpts")
        s3.put_object(Bucket="ckpts", Key="job/ck.pt", Body=b"attempt 1")
        s3.put_object(Bucket="ckpts", Key="job/ck.pt", Body=b"attempt 2")
        # moto still answers everything that is not S3, on the same port
        assert first.client("sts").get_caller_identity()["Account"]
        first.client("logs").create_log_group(logGroupName="/smemu/disk-test")
    with EndpointProcess(state, "--s3-backend", "disk") as second:
        s3 = second.client("s3")
        assert s3.get_object(Bucket="ckpts", Key="job/ck.pt")["Body"].read() == b"attempt 2"
        versions = s3.list_object_versions(Bucket="ckpts", Prefix="job/")["Versions"]
        assert len(versions) == 2
        s3.put_object(Bucket="ckpts", Key="job/after-crash.pt", Body=b"kept")
        os.kill(_pid(second), signal.SIGKILL)
        second.process.process.wait(timeout=30)  # type: ignore[union-attr]
    with EndpointProcess(state, "--s3-backend", "disk") as third:
        s3 = third.client("s3")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ckpts")["Contents"]]
        assert keys == ["job/after-crash.pt", "job/ck.pt"]
        assert s3.get_object(Bucket="ckpts", Key="job/after-crash.pt")["Body"].read() == b"kept"


def test_moto_stays_selectable_and_forgets_on_restart(tmp_path: Path):
    state = tmp_path / "state"
    with EndpointProcess(state, "--s3-backend", "moto") as first:
        assert first.health()["s3_backend"] == "moto"
        first.client("s3").create_bucket(Bucket="gone-after")
    assert not s3_root(state).exists()
    with EndpointProcess(state, "--s3-backend", "moto") as second:
        names = [b["Name"] for b in second.client("s3").list_buckets()["Buckets"]]
        assert "gone-after" not in names
