"""S3 faults on a real boto3 client against a real (in-process moto) S3 over HTTP, and the
checkpoint mirror riding them out: errors at a seeded rate, outages, a patient final flush."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator.checkpoints import CheckpointMirror
from emulator.checkpoints.retry import Patience
from emulator.faults.s3_injector import S3FaultInjector
from emulator.faults.s3_spec import parse_s3_faults
from emulator.storage.fault_hooks import FaultyS3
from emulator.storage.s3 import S3Endpoint
from tests.unit._s3server import MotoS3

MiB = 1024 * 1024


def _faulty(s3: MotoS3, spec: str, now: list[float] | None = None,
            whole_object: bool = True) -> tuple[FaultyS3, S3FaultInjector]:
    clock = now if now is not None else [0.0]
    injector = S3FaultInjector(parse_s3_faults(spec), lambda: clock[0])
    endpoint = S3Endpoint(s3.endpoint, access_key="testing", secret_key="testing",
                          whole_object=whole_object)
    return FaultyS3(endpoint, injector), injector


def _remote(client: Any, uri: str) -> dict[str, str]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) + 1:]] = hashlib.sha256(body).hexdigest()
    return out


def _local(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and ".sagemaker-" not in p.name}


def test_every_request_answered_with_an_s3_error(s3: MotoS3, client: Any) -> None:
    bucket = s3.new_bucket(client)
    faulty, injector = _faulty(s3, "errors=100% seed=3")
    codes = set()
    for i in range(20):
        with pytest.raises(ClientError) as caught:
            faulty.blob_store().put_bytes(bucket, f"k{i}", b"x", "")
        error = caught.value.response["Error"]
        status = caught.value.response["ResponseMetadata"]["HTTPStatusCode"]
        codes.add((error["Code"], status))
    assert codes == {("SlowDown", 503), ("InternalError", 500)}
    assert "Contents" not in client.list_objects_v2(Bucket=bucket)  # none reached S3
    assert injector.counts().faults == 20
    faulty.close()


def test_an_outage_refuses_everything_then_s3_answers(s3: MotoS3, client: Any) -> None:
    bucket = s3.new_bucket(client)
    now = [0.0]
    faulty, injector = _faulty(s3, "outage=10s+5s", now)
    store = faulty.blob_store()
    store.put_bytes(bucket, "before", b"1", "")
    now[0] = 12.0
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        store.list_objects(bucket, "")
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        faulty.client().put_object(Bucket=bucket, Key="during", Body=b"2")
    now[0] = 15.0
    assert [o.key for o in store.list_objects(bucket, "")] == ["before"]
    counts = injector.counts()
    assert counts.outage_refusals >= 2
    assert counts.retries >= 1  # the artifact client's own (botocore) retries are counted
    faulty.close()


def test_latency_and_download_bandwidth_are_added_and_counted(s3: MotoS3, client: Any) -> None:
    bucket = s3.new_bucket(client)
    client.put_object(Bucket=bucket, Key="big", Body=b"\0" * (2 * MiB))
    faulty, injector = _faulty(s3, "latency=50ms bandwidth=10MiB/s")
    started = time.monotonic()
    got = bytearray()
    faulty.blob_store().get_stream(bucket, "big", got.extend)
    assert len(got) == 2 * MiB
    assert time.monotonic() - started >= 0.25  # 50 ms + 2 MiB at 10 MiB/s, at least
    assert injector.counts().delay_seconds == pytest.approx(0.25)
    faulty.close()


@pytest.mark.parametrize("whole_object", [True, False], ids=["streamed", "multipart"])
def test_the_mirror_loses_nothing_at_a_30_percent_error_rate(
        s3: MotoS3, client: Any, uri: str, local: Path, whole_object: bool) -> None:
    faulty, injector = _faulty(s3, "errors=30% seed=11", whole_object=whole_object)
    mirror = CheckpointMirror(local, uri, faulty.blob_store(), retry_seconds=0.5,
                              patience=Patience(60.0, injector.note_retry))
    with mirror:
        for i in range(12):
            (local / f"step-{i}.bin").write_bytes(bytes([i]) * 1000)
        (local / "large.bin").write_bytes(b"L" * (12 * MiB))  # multipart: 2 parts
        (local / "step-0.bin").unlink()
    assert _remote(client, uri) == _local(local)
    counts = injector.counts()
    assert counts.faults > 0 and counts.retries > 0 and counts.backoff_seconds > 0
    faulty.close()


def test_a_final_flush_waits_out_an_outage_within_its_patience(
        s3: MotoS3, client: Any, uri: str, local: Path) -> None:
    now = [0.0]
    faulty, _ = _faulty(s3, "outage=5s+1000s", now)
    mirror = CheckpointMirror(local, uri, faulty.blob_store(), patience=Patience(60.0)).start()
    now[0] = 6.0  # S3 goes down before anything is uploaded
    (local / "model.ckpt").write_bytes(b"weights")
    time.sleep(1.5)  # uploads fail meanwhile

    def recover() -> None:  # longer than one operation's own retries (0.25 + ... + 2 s)
        time.sleep(8.0)
        now[0] = 2000.0

    threading.Thread(target=recover, daemon=True).start()
    report = mirror.stop()
    assert report.ok, report.errors
    assert _remote(client, uri) == _local(local) == {"model.ckpt": _local(local)["model.ckpt"]}
    faulty.close()


def test_past_its_patience_the_flush_reports_what_is_not_in_s3(
        s3: MotoS3, client: Any, uri: str, local: Path) -> None:
    now = [0.0]
    faulty, _ = _faulty(s3, "outage=5s+1000s", now)
    mirror = CheckpointMirror(local, uri, faulty.blob_store(), patience=Patience(2.0)).start()
    now[0] = 6.0
    (local / "model.ckpt").write_bytes(b"weights")
    report = mirror.stop()
    assert any("model.ckpt" in e and "ServiceUnavailable" in e for e in report.errors)
    assert _remote(client, uri) == {}
    faulty.close()
