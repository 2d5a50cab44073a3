"""One contract for every BlobStore, run against moto, the disk S3 and `rclone serve s3` (the
``smemu-s3-standin`` image as a throwaway testcontainers container), each on its own, and
against the endpoint application with each of its embedded S3 backends (the requests routed as
the endpoint routes them, on one port with SageMaker and moto's services), and against the
endpoint's in-process reads of its disk S3 (``DiskBlobStore``).

A new implementation joins by being configurable on ``S3Endpoint``: add it to ``store`` below."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from emulator.api.app import EndpointApp
from emulator.checkpoints.retry import is_permanent
from emulator.storage.backends import S3_BACKENDS
from emulator.storage.blobstore import BlobStore
from emulator.storage.disk_blobstore import DiskBlobStore
from emulator.storage.disk_s3.app import DiskS3App
from emulator.storage.s3 import S3Endpoint
from tests.support.disk_s3 import DiskS3Server
from tests.support.s3_standin import ACCESS_KEY, SECRET_KEY, STANDIN_IMAGE, S3StandinContainer
from tests.support.wsgi import LoopbackWsgi
from tests.unit._s3server import MotoS3
from tests.unit.test_service_operations import make_service

MiB = 1024 * 1024
AWKWARD_KEYS = ["plain.pt", "dir/a b+c.pt", "ünï/cödé.bin", "x%41y", "deep/er/still/f"]


@pytest.fixture(scope="module")
def rclone() -> Iterator[S3StandinContainer]:
    try:
        docker.from_env().images.get(STANDIN_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{STANDIN_IMAGE} is missing: run `make setup` (it builds it)")
    with S3StandinContainer() as server:
        yield server


@pytest.fixture(scope="module")
def disk_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskS3Server]:
    with DiskS3Server(tmp_path_factory.mktemp("disk-s3")) as server:
        yield server


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory, s3: MotoS3) -> Iterator[
        dict[str, LoopbackWsgi]]:
    """The endpoint application once per embedded S3 backend, each on its own port."""
    os.environ.setdefault("S3_IGNORE_SUBDOMAIN_BUCKETNAME", "true")
    servers: dict[str, LoopbackWsgi] = {}
    disks: list[DiskS3App] = []
    try:
        for backend in S3_BACKENDS:
            state = tmp_path_factory.mktemp(f"endpoint-{backend}")
            disk = DiskS3App(state / "s3") if backend == "disk" else None
            disks += [disk] if disk else []
            app = EndpointApp(make_service(state, s3), "contract", s3_app=disk,
                              s3_backend=backend)
            servers[backend] = LoopbackWsgi(app).__enter__()
        yield servers
    finally:
        for server in servers.values():
            server.__exit__()
        for disk in disks:
            disk.close()


@pytest.fixture(params=["moto", "disk", "disk-in-process",
                        pytest.param("rclone", marks=pytest.mark.docker),
                        *(f"endpoint-{backend}" for backend in S3_BACKENDS)])
def endpoint(request: pytest.FixtureRequest) -> S3Endpoint:
    if request.param.startswith("endpoint-"):
        backend = request.param.split("-", 1)[1]
        served: LoopbackWsgi = request.getfixturevalue("embedded")[backend]
        return S3Endpoint(served.url, whole_object=backend == "moto")
    if request.param == "moto":
        moto: MotoS3 = request.getfixturevalue("s3")
        return S3Endpoint(moto.endpoint, access_key="testing", secret_key="testing",
                          whole_object=True)
    if request.param.startswith("disk"):
        disk: DiskS3Server = request.getfixturevalue("disk_s3")
        return S3Endpoint(disk.url)
    server: S3StandinContainer = request.getfixturevalue("rclone")
    return S3Endpoint(server.url, access_key=ACCESS_KEY, secret_key=SECRET_KEY)


@pytest.fixture
def store(endpoint: S3Endpoint, request: pytest.FixtureRequest) -> BlobStore:
    """Every implementation the endpoint can be configured with (boto3), and the endpoint's
    own reads of its embedded disk S3 in its process (writes over HTTP)."""
    if request.node.callspec.params["endpoint"] == "disk-in-process":
        disk: DiskS3Server = request.getfixturevalue("disk_s3")
        assert disk.app is not None
        return DiskBlobStore(disk.app.store, endpoint.blob_store())
    return endpoint.blob_store()


@pytest.fixture
def bucket(endpoint: S3Endpoint) -> str:
    name = f"contract-{uuid.uuid4().hex[:10]}"
    endpoint.client().create_bucket(Bucket=name)
    return name


def _get(store: BlobStore, bucket: str, key: str) -> bytes:
    pieces: list[bytes] = []
    store.get_stream(bucket, key, pieces.append)
    return b"".join(pieces)


def test_put_bytes_then_list_and_get_awkward_keys(store: BlobStore, bucket: str):
    for i, key in enumerate(AWKWARD_KEYS):
        data = os.urandom(1000 + i)
        store.put_bytes(bucket, f"ck pt/{key}", data, hashlib.sha256(data).hexdigest())
        assert _get(store, bucket, f"ck pt/{key}") == data
    listed = store.list_objects(bucket, "ck pt/")
    assert sorted(o.key for o in listed) == sorted(f"ck pt/{k}" for k in AWKWARD_KEYS)
    assert {o.key: o.size for o in listed}["ck pt/plain.pt"] == 1000
    assert all(o.etag for o in listed)
    assert store.list_objects(bucket, "ck pt/dir/") == [o for o in listed if "/dir/" in o.key]


def test_put_stream_sends_exactly_the_promised_bytes(store: BlobStore, bucket: str):
    data = os.urandom(3 * MiB + 17)
    store.put_stream(bucket, "big.bin", io.BytesIO(data), len(data))
    assert _get(store, bucket, "big.bin") == data
    [listed] = store.list_objects(bucket, "big")
    assert listed.size == len(data)


def test_get_range_gives_exactly_the_range_and_the_etag(store: BlobStore, bucket: str):
    data = os.urandom(2 * MiB)
    store.put_bytes(bucket, "r.bin", data, hashlib.sha256(data).hexdigest())
    part, etag = store.get_range(bucket, "r.bin", MiB - 5, 1000)
    assert bytes(part) == data[MiB - 5: MiB + 995]
    [listed] = store.list_objects(bucket, "r.bin")
    assert etag.strip('"') == listed.etag.strip('"')
    last, _ = store.get_range(bucket, "r.bin", 2 * MiB - 10, 10)
    assert bytes(last) == data[-10:]


def test_delete_removes_and_deleting_a_missing_key_is_fine(store: BlobStore, bucket: str):
    store.put_bytes(bucket, "gone.pt", b"x", hashlib.sha256(b"x").hexdigest())
    store.delete(bucket, "gone.pt")
    assert store.list_objects(bucket, "") == []
    store.delete(bucket, "never-was.pt")


def test_errors_carry_s3_codes_that_the_retry_layer_classifies(store: BlobStore, bucket: str):
    with pytest.raises(ClientError) as missing_key:
        _get(store, bucket, "no-such-key")
    code = missing_key.value.response["Error"]["Code"]
    assert code in ("NoSuchKey", "404")
    assert not is_permanent(missing_key.value)
    with pytest.raises(ClientError) as missing_bucket:
        store.list_objects(f"no-such-{uuid.uuid4().hex[:8]}", "")
    assert missing_bucket.value.response["Error"]["Code"] == "NoSuchBucket"
    assert is_permanent(missing_bucket.value)


def test_multipart_upload_through_one_shared_manager(store: BlobStore, bucket: str,
                                                     tmp_path: Path):
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=2)
    files: dict[str, bytes] = {}
    for name in ("one.bin", "two.bin"):
        files[name] = os.urandom(11 * MiB)
        (tmp_path / name).write_bytes(files[name])
    transfers = store.transfers(config)
    try:
        for name in files:
            assert transfers.upload_file(str(tmp_path / name), bucket, f"mp/{name}") is False
    finally:
        transfers.close()
    for name, data in files.items():
        assert _get(store, bucket, f"mp/{name}") == data


def test_multipart_upload_of_a_file_that_shrinks_says_so(store: BlobStore, bucket: str,
                                                         tmp_path: Path, monkeypatch: Any):
    path = tmp_path / "shrinks.bin"
    path.write_bytes(os.urandom(11 * MiB))
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                            max_concurrency=1)
    transfers = store.transfers(config)
    real_stat = os.path.getsize
    # The size s3transfer fixes at the start is the larger one; the file then holds less.
    monkeypatch.setattr("s3transfer.utils.os.path.getsize",
                        lambda p: 16 * MiB if str(p) == str(path) else real_stat(p))
    try:
        assert transfers.upload_file(str(path), bucket, "shrinks.bin") is True
        monkeypatch.undo()
        assert transfers.upload_file(str(path), bucket, "again.bin") is False  # not left over
    finally:
        transfers.close()


def test_the_strategy_comes_from_configuration_not_from_the_server(s3: MotoS3):
    # A moto server that is not configured as holding whole objects is not detected as one.
    plain = S3Endpoint(s3.endpoint, access_key="testing", secret_key="testing")
    assert plain.blob_store().whole_object is False
    embedded = S3Endpoint(s3.endpoint, access_key="testing", secret_key="testing",
                          whole_object=True)
    assert embedded.blob_store().whole_object is True
    assert embedded.blob_store() is embedded.blob_store()  # made once per endpoint
