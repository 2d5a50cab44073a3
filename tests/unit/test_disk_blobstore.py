"""The in-process blob store over the disk S3 answers exactly as the HTTP path to the same disk
S3 does: listings (string prefixes, more than one page), bodies, ranges, ETags and error codes.
Both are read side by side, over one real disk S3 served on a loopback port."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from emulator.checkpoints import restore
from emulator.checkpoints.retry import is_permanent
from emulator.storage.blobstore import BlobStore
from emulator.storage.disk_blobstore import DiskBlobStore
from emulator.storage.disk_s3.store import DiskObjectStore, Version
from emulator.storage.s3 import S3Endpoint
from tests.support.disk_s3 import DiskS3Server

MiB = 1024 * 1024
KEYS = ["ASHA-1/model.pt", "ASHA-1/opt/state.pt", "ASHA-10/model.pt", "ASHA-11", "ASHA-2/x",
        "ASHA-1", "ünï/cödé.bin", "dir/a b+c.pt", "x%41y", "zzz/"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiskS3Server]:
    with DiskS3Server(tmp_path_factory.mktemp("disk-s3")) as served:
        yield served


@pytest.fixture(scope="module")
def http(server: DiskS3Server) -> BlobStore:
    return S3Endpoint(server.url).blob_store()


@pytest.fixture(scope="module")
def disk(server: DiskS3Server) -> DiskObjectStore:
    assert server.app is not None
    return server.app.store


@pytest.fixture(scope="module")
def direct(disk: DiskObjectStore, http: BlobStore) -> DiskBlobStore:
    return DiskBlobStore(disk, http)


@pytest.fixture
def bucket(server: DiskS3Server) -> str:
    name = f"direct-{uuid.uuid4().hex[:10]}"
    S3Endpoint(server.url).client().create_bucket(Bucket=name)
    return name


def _get(store: BlobStore, bucket: str, key: str) -> bytes:
    pieces: list[bytes] = []
    store.get_stream(bucket, key, pieces.append)
    return b"".join(pieces)


def _error(call: Callable[[BlobStore], object], store: BlobStore) -> tuple[str, int | None]:
    """The code and HTTP status of the ClientError ``call(store)`` raises."""
    with pytest.raises(ClientError) as raised:
        call(store)
    answer: dict[str, Any] = raised.value.response
    return answer["Error"]["Code"], answer.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _multipart(server: DiskS3Server, bucket: str, key: str, tmp_path: Path) -> bytes:
    """An object of three parts (its body is three files on disk), uploaded over HTTP."""
    data = os.urandom(11 * MiB + 123)
    path = tmp_path / "mp.bin"
    path.write_bytes(data)
    store = S3Endpoint(server.url).blob_store()
    transfers = store.transfers(TransferConfig(multipart_threshold=5 * MiB,
                                               multipart_chunksize=5 * MiB, max_concurrency=2))
    try:
        transfers.upload_file(str(path), bucket, key)
    finally:
        transfers.close()
    return data


def test_listings_equal_the_http_ones_for_string_prefixes(server: DiskS3Server, http: BlobStore,
                                                          direct: DiskBlobStore, bucket: str,
                                                          tmp_path: Path) -> None:
    client = S3Endpoint(server.url).client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i, key in enumerate(KEYS):
        http.put_bytes(bucket, key, os.urandom(100 + i), "")
    http.put_bytes(bucket, "ASHA-1/model.pt", b"a newer version", "")
    http.put_bytes(bucket, "ASHA-1/gone.pt", b"deleted: a delete marker is its latest", "")
    http.delete(bucket, "ASHA-1/gone.pt")
    _multipart(server, bucket, "ASHA-1/multipart.bin", tmp_path)
    for prefix in ("", "ASHA-1", "ASHA-1/", "ASHA-10", "ASHA-1/opt", "ün", "dir/a b", "x%",
                   "zzz/", "nothing-here", "ASHA-3"):
        assert direct.list_objects(bucket, prefix) == http.list_objects(bucket, prefix), prefix
    listed = {o.key: o for o in direct.list_objects(bucket, "ASHA-1")}
    assert "ASHA-1/gone.pt" not in listed and {"ASHA-10/model.pt", "ASHA-11"} <= set(listed)
    assert listed["ASHA-1/model.pt"].size == len(b"a newer version")
    assert listed["ASHA-1/multipart.bin"].etag.endswith('-3"')  # md5-of-md5s-N, quoted


def test_a_listing_of_more_than_one_page_equals_the_paginated_http_one(
        disk: DiskObjectStore, http: BlobStore, direct: DiskBlobStore, bucket: str) -> None:
    for i in range(1003):  # straight into the store: 1003 PUTs over HTTP would take seconds
        received, size, md5 = disk.receive(io.BytesIO(b"%d" % i), None)
        disk.put(bucket, f"many/{i:05d}", received, size, f'"{md5}"', {})
    listed = direct.list_objects(bucket, "many/")
    assert len(listed) == 1003
    assert listed == http.list_objects(bucket, "many/")


def test_bodies_ranges_and_etags_equal_the_http_ones(server: DiskS3Server, http: BlobStore,
                                                     direct: DiskBlobStore, bucket: str,
                                                     tmp_path: Path) -> None:
    data = _multipart(server, bucket, "mp.bin", tmp_path)
    small = os.urandom(3 * MiB + 5)
    etag = http.put_bytes(bucket, "small.bin", small, hashlib.sha256(small).hexdigest())
    http.put_bytes(bucket, "empty", b"", hashlib.sha256(b"").hexdigest())
    assert _get(direct, bucket, "mp.bin") == data
    assert _get(direct, bucket, "small.bin") == small
    assert _get(direct, bucket, "empty") == b""
    # Within a part, across the parts' boundaries (5 MiB, 10 MiB), to the last byte.
    for start, length in ((0, 10), (5 * MiB - 3, 7), (4 * MiB, 7 * MiB), (0, len(data)),
                          (len(data) - 1, 1), (10 * MiB, len(data) - 10 * MiB)):
        got, got_etag = direct.get_range(bucket, "mp.bin", start, length)
        assert bytes(got) == data[start:start + length], (start, length)
        want, want_etag = http.get_range(bucket, "mp.bin", start, length)
        assert bytes(got) == bytes(want) and got_etag == want_etag
    part, part_etag = direct.get_range(bucket, "small.bin", MiB, 100)
    assert bytes(part) == small[MiB:MiB + 100] and part_etag == etag
    [listed] = direct.list_objects(bucket, "mp.bin")
    assert listed.etag == direct.get_range(bucket, "mp.bin", 0, 1)[1]


def test_errors_have_the_http_paths_codes(http: BlobStore, direct: DiskBlobStore,
                                          bucket: str) -> None:
    http.put_bytes(bucket, "ten", b"0123456789", "")
    http.put_bytes(bucket, "deleted", b"x", "")
    http.delete(bucket, "deleted")
    no_bucket = f"no-such-{uuid.uuid4().hex[:8]}"
    calls: list[Callable[[BlobStore], object]] = [
        lambda s: _get(s, bucket, "no-such-key"),
        lambda s: s.get_range(bucket, "no-such-key", 0, 1),
        lambda s: _get(s, bucket, "deleted"),
        lambda s: s.list_objects(no_bucket, ""),
        lambda s: _get(s, no_bucket, "k"),
        lambda s: s.get_range(no_bucket, "k", 0, 1),
        lambda s: s.get_range(bucket, "ten", 10, 1),  # starts past the end: InvalidRange
        lambda s: s.get_range(bucket, "ten", 5, 10),  # ends past it: comes short
    ]
    codes = [_error(call, direct) for call in calls]
    assert codes == [_error(call, http) for call in calls]
    assert [code for code, _ in codes] == ["NoSuchKey", "NoSuchKey", "NoSuchKey",
                                           "NoSuchBucket", "NoSuchBucket", "NoSuchBucket",
                                           "InvalidRange", "IncompleteRange"]
    with pytest.raises(ClientError) as missing_bucket:
        direct.list_objects(no_bucket, "")
    assert is_permanent(missing_bucket.value)  # classified as the HTTP one is
    with pytest.raises(ClientError) as missing_key:
        _get(direct, bucket, "no-such-key")
    assert not is_permanent(missing_key.value)


def test_a_body_replaced_while_it_is_read_is_still_read_whole(http: BlobStore,
                                                              direct: DiskBlobStore,
                                                              bucket: str) -> None:
    first, second = os.urandom(3 * MiB), os.urandom(2 * MiB)
    http.put_bytes(bucket, "k", first, "")
    pieces: list[bytes] = []

    def sink(chunk: bytes) -> None:
        if not pieces:  # the old body's file is unlinked now
            http.put_bytes(bucket, "k", second, "")
        pieces.append(chunk)

    direct.get_stream(bucket, "k", sink)
    assert b"".join(pieces) == first
    assert _get(direct, bucket, "k") == second


class _StaleOnce(DiskObjectStore):
    """The real store whose first lookup answers the version it held before a replacement:
    the race of a lookup just before the replacement's files are removed."""

    stale: Version | None = None

    def get(self, bucket: str, key: str, version_id: str | None = None) -> Version:
        if self.stale is not None:
            stale, self.stale = self.stale, None
            return stale
        return super().get(bucket, key, version_id)


def test_a_body_gone_between_lookup_and_open_is_looked_up_again(tmp_path: Path) -> None:
    with DiskS3Server(tmp_path / "s3") as server:
        assert server.app is not None
        http = S3Endpoint(server.url).blob_store()
        S3Endpoint(server.url).client().create_bucket(Bucket="race")
        store = _StaleOnce(tmp_path / "s3")  # a second store over the same files
        try:
            http.put_bytes("race", "k", b"old", "")
            old = store.get("race", "k")
            http.put_bytes("race", "k", b"new", "")  # the old body's file is removed
            store.stale = old
            assert _get(DiskBlobStore(store, http), "race", "k") == b"new"
        finally:
            store.close()


def test_a_restore_through_it_brings_the_same_files(server: DiskS3Server, http: BlobStore,
                                                     direct: DiskBlobStore, bucket: str,
                                                     tmp_path: Path) -> None:
    data = _multipart(server, bucket, "ck/big.bin", tmp_path)  # ranged: above the threshold
    http.put_bytes(bucket, "ck/sub/small.pt", b"small", "")
    via_http = restore(http, f"s3://{bucket}/ck", tmp_path / "http")
    via_direct = restore(direct, f"s3://{bucket}/ck", tmp_path / "direct")
    assert (tmp_path / "direct" / "big.bin").read_bytes() == data
    assert sorted(via_direct.files, key=lambda f: f.path) == sorted(via_http.files,
                                                                    key=lambda f: f.path)
    assert via_direct.etags == via_http.etags


def test_a_body_file_lost_is_the_http_paths_internal_error_and_a_sinks_error_stays_local(
        disk: DiskObjectStore, http: BlobStore, direct: DiskBlobStore, bucket: str) -> None:
    http.put_bytes(bucket, "lost", b"its file goes", "")
    http.put_bytes(bucket, "kept", b"its file stays", "")
    for path, _ in disk.segments(disk.get(bucket, "lost")):
        path.unlink()  # the index still lists it: the S3 application answers 500
    calls: list[Callable[[BlobStore], object]] = [lambda s: _get(s, bucket, "lost"),
                                                  lambda s: s.get_range(bucket, "lost", 0, 1)]
    assert [_error(call, direct) for call in calls] == [_error(call, http) for call in calls] \
        == [("InternalError", 500)] * 2
    with pytest.raises(ClientError) as lost:
        _get(direct, bucket, "lost")
    assert not is_permanent(lost.value)  # retried, as a 500 is
    # A body file that cannot be read (here a directory where it was): S3's failure, retried,
    # not a local file error, which the retry layer would take as permanent.
    http.put_bytes(bucket, "unreadable", b"x", "")
    [(path, _)] = disk.segments(disk.get(bucket, "unreadable"))
    path.unlink()
    (path / "inside").mkdir(parents=True)
    for call in (lambda s: _get(s, bucket, "unreadable"),
                 lambda s: s.get_range(bucket, "unreadable", 0, 1)):
        with pytest.raises(ClientError) as unreadable:
            call(direct)
        assert unreadable.value.response["Error"]["Code"] == "InternalError"
        assert not is_permanent(unreadable.value)

    def full_disk(chunk: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):  # the caller's own, not S3's
        direct.get_stream(bucket, "kept", full_disk)
