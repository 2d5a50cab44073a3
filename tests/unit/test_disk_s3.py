"""The disk S3 over real HTTP with plain boto3 clients: S3's answers, and what a restart keeps."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from emulator.storage.backends import is_s3_request
from emulator.storage.disk_s3.operations import s3_operation
from emulator.storage.disk_s3.store import DiskObjectStore
from tests.support.disk_s3 import DiskS3Server

MiB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DiskS3Server]:
    with DiskS3Server(tmp_path / "s3") as running:
        yield running


@pytest.fixture
def s3(server: DiskS3Server) -> Any:
    return server.client()


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def _code(err: pytest.ExceptionInfo[ClientError]) -> str:
    return str(err.value.response["Error"]["Code"])


def test_objects_and_versions_survive_a_restart(tmp_path: Path):
    root = tmp_path / "s3"
    with DiskS3Server(root) as first:
        s3 = first.client()
        s3.create_bucket(Bucket="keep")
        s3.put_bucket_versioning(Bucket="keep", VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket="keep", Key="ck/model.pt", Body=b"one")
        s3.put_object(Bucket="keep", Key="ck/model.pt", Body=b"two")
    with DiskS3Server(root) as second:
        s3 = second.client()
        assert s3.get_object(Bucket="keep", Key="ck/model.pt")["Body"].read() == b"two"
        versions = s3.list_object_versions(Bucket="keep", Prefix="ck/")["Versions"]
        assert [v["IsLatest"] for v in versions] == [True, False]
        old = s3.get_object(Bucket="keep", Key="ck/model.pt", VersionId=versions[1]["VersionId"])
        assert old["Body"].read() == b"one"
        assert s3.get_bucket_versioning(Bucket="keep")["Status"] == "Enabled"


def test_a_body_cut_off_by_a_crash_is_swept_and_never_listed(tmp_path: Path):
    root = tmp_path / "s3"
    DiskObjectStore(root).close()
    (root / "tmp" / "half-received").write_bytes(b"x" * 100)
    with DiskS3Server(root) as again:
        assert list((root / "tmp").iterdir()) == []
        again.client().create_bucket(Bucket="after")
        assert again.client().list_objects_v2(Bucket="after")["KeyCount"] == 0


def test_default_boto3_checksums_bodies_arrive_intact(s3: Any, bucket: str):
    data = os.urandom(3 * MiB + 5)
    s3.put_object(Bucket=bucket, Key="checksummed.bin", Body=data)  # a CRC32 by default
    got = s3.get_object(Bucket=bucket, Key="checksummed.bin")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)


@pytest.mark.parametrize("signed", [False, True])
def test_aws_chunked_bodies_are_decoded(server: DiskS3Server, s3: Any, bucket: str,
                                        signed: bool):
    # What SDKs send over TLS (and SigV4 streaming uploads): the payload inside chunk framing,
    # with a trailing checksum. Stored framed, the object would be corrupt.
    pieces = [os.urandom(70000), b"tail"]
    extension = ";chunk-signature=" + "0" * 64 if signed else ""
    framed = b"".join(f"{len(p):x}{extension}\r\n".encode() + p + b"\r\n" for p in pieces)
    framed += f"0{extension}\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n".encode()
    sha = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" if signed else "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    request = urllib.request.Request(
        f"{server.url}/{bucket}/framed.bin", data=framed, method="PUT", headers={
            "Content-Encoding": "aws-chunked", "x-amz-content-sha256": sha,
            "x-amz-decoded-content-length": str(sum(len(p) for p in pieces)),
            "x-amz-trailer": "x-amz-checksum-crc32"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
    got = s3.get_object(Bucket=bucket, Key="framed.bin")
    assert got["Body"].read() == b"".join(pieces)
    assert "ContentEncoding" not in got  # aws-chunked is the transfer's, not the object's


def test_multipart_parts_are_joined_in_order_with_s3s_etag(s3: Any, bucket: str,
                                                           tmp_path: Path):
    data = os.urandom(12 * MiB + 3)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    s3.upload_file(str(path), bucket, "mp/big.bin",
                   Config=TransferConfig(multipart_threshold=5 * MiB,
                                         multipart_chunksize=5 * MiB, max_concurrency=3))
    head = s3.head_object(Bucket=bucket, Key="mp/big.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-3"')
    assert s3.get_object(Bucket=bucket, Key="mp/big.bin")["Body"].read() == data
    ranged = s3.get_object(Bucket=bucket, Key="mp/big.bin", Range=f"bytes={5 * MiB - 2}-"
                           f"{5 * MiB + 1}")  # across the parts' seam
    assert ranged["Body"].read() == data[5 * MiB - 2: 5 * MiB + 2]


def test_multipart_mistakes_are_s3s_4xx(s3: Any, bucket: str):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"a")
    last = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=2, Body=b"b")
    parts = [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]
    with pytest.raises(ClientError) as too_small:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload,
                                     MultipartUpload={"Parts": parts})
    assert _code(too_small) == "EntityTooSmall"
    with pytest.raises(ClientError) as wrong_etag:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"0000"'}]})
    assert _code(wrong_etag) == "InvalidPart"
    assert s3.list_multipart_uploads(Bucket=bucket)["Uploads"][0]["UploadId"] == upload
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload)
    with pytest.raises(ClientError) as gone:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=3, Body=b"c")
    assert _code(gone) == "NoSuchUpload"


def test_range_and_conditional_gets(s3: Any, bucket: str):
    s3.put_object(Bucket=bucket, Key="r", Body=bytes(range(100)))
    etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
    tail = s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")
    assert tail["Body"].read() == bytes(range(95, 100))
    assert tail["ContentRange"] == "bytes 95-99/100"
    with pytest.raises(ClientError) as beyond:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=100-")
    assert _code(beyond) == "InvalidRange"
    with pytest.raises(ClientError) as not_modified:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert not_modified.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    with pytest.raises(ClientError) as failed:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"not-it"')
    assert _code(failed) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == bytes(range(100))


def test_delete_markers_and_version_listing_pages(s3: Any, bucket: str):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for i in range(3):
        s3.put_object(Bucket=bucket, Key="ck/a", Body=f"a{i}".encode())
    s3.put_object(Bucket=bucket, Key="ck/b", Body=b"b")
    s3.delete_object(Bucket=bucket, Key="ck/b")
    with pytest.raises(ClientError) as deleted:
        s3.get_object(Bucket=bucket, Key="ck/b")
    assert _code(deleted) == "NoSuchKey"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["ck/a"]
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen += [(v["Key"], v["IsLatest"], "v") for v in page.get("Versions", [])]
        seen += [(v["Key"], v["IsLatest"], "marker") for v in page.get("DeleteMarkers", [])]
    assert sorted(seen) == sorted([("ck/a", True, "v"), ("ck/a", False, "v"),
                                   ("ck/a", False, "v"), ("ck/b", True, "marker"),
                                   ("ck/b", False, "v")])
    marker = s3.list_object_versions(Bucket=bucket, Prefix="ck/b")["DeleteMarkers"][0]
    s3.delete_object(Bucket=bucket, Key="ck/b", VersionId=marker["VersionId"])
    assert s3.get_object(Bucket=bucket, Key="ck/b")["Body"].read() == b"b"


def test_listing_pages_prefixes_and_delimiters(s3: Any, bucket: str):
    keys = [f"run/{d}/f{i}" for d in ("x", "y") for i in range(3)] + ["run/top", "other"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b".")
    listed = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="run/", PaginationConfig={"PageSize": 2})
        for o in page.get("Contents", [])]
    assert listed == sorted(k for k in keys if k.startswith("run/"))
    folders = s3.list_objects_v2(Bucket=bucket, Prefix="run/", Delimiter="/")
    assert [p["Prefix"] for p in folders["CommonPrefixes"]] == ["run/x/", "run/y/"]
    assert [o["Key"] for o in folders["Contents"]] == ["run/top"]
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}) for o in page.get("Contents", [])]
    assert v1 == sorted(keys)


def test_copy_and_batch_delete(s3: Any, bucket: str):
    s3.put_object(Bucket=bucket, Key="src", Body=b"payload", Metadata={"step": "7"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"payload" and got["Metadata"] == {"step": "7"}
    done = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "src"},
                                                               {"Key": "dst"}]})
    assert sorted(d["Key"] for d in done["Deleted"]) == ["dst", "src"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.head_bucket(Bucket=bucket)
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_mistakes_and_missing_features_are_4xx_in_s3s_format(s3: Any, bucket: str):
    with pytest.raises(ClientError) as no_bucket:
        s3.put_object(Bucket="no-such-bucket-here", Key="k", Body=b"x")
    assert _code(no_bucket) == "NoSuchBucket"
    with pytest.raises(ClientError) as bad_name:
        s3.create_bucket(Bucket="Bad_Name")
    assert _code(bad_name) == "InvalidBucketName"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as not_empty:
        s3.delete_bucket(Bucket=bucket)
    assert _code(not_empty) == "BucketNotEmpty"
    with pytest.raises(ClientError) as missing:
        s3.get_object_tagging(Bucket=bucket, Key="k")
    assert _code(missing) == "NotImplemented"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "The operation GetObjectTagging (GET /" in str(missing.value)
    assert "?tagging) is not implemented" in str(missing.value)


@pytest.mark.parametrize("headers", [
    {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "lots"},
    {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "-3"},
    {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "5"},  # bad framing
])
def test_a_malformed_body_is_a_400_in_s3s_xml(server: DiskS3Server, bucket: str,
                                              headers: dict[str, str]):
    request = urllib.request.Request(f"{server.url}/{bucket}/bad", data=b"zz\r\nhello",
                                     method="PUT", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    assert answer.value.code == 400
    assert b"<Error><Code>" in answer.value.read()


@pytest.mark.parametrize(("environ", "expected"), [
    ({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, "
      "SignedHeaders=host, Signature=x"}, True),
    ({"HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/logs/"
      "aws4_request, SignedHeaders=host, Signature=x"}, False),
    ({"QUERY_STRING": "X-Amz-Credential=k%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"}, True),
    ({"HTTP_X_AMZ_TARGET": "Logs_20140328.PutLogEvents"}, False),
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded"}, False),
    ({"QUERY_STRING": "Action=GetCallerIdentity"}, False),
    ({}, True),
])
def test_which_requests_the_disk_s3_answers(environ: dict[str, str], expected: bool):
    assert is_s3_request(environ) is expected


@pytest.mark.parametrize(("method", "has_key", "args", "headers", "expected"), [
    ("GET", True, {"tagging": ""}, {}, "GetObjectTagging"),
    ("PUT", False, {"acl": ""}, {}, "PutBucketAcl"),
    ("GET", True, {"uploadId": "u"}, {}, "ListParts"),
    ("PUT", True, {"partNumber": "1", "uploadId": "u"}, {"X-Amz-Copy-Source": "b/k"},
     "UploadPartCopy"),
    ("GET", False, {"lifecycle": ""}, {}, "GetBucketLifecycleConfiguration"),  # not deprecated
    ("GET", False, {"list-type": "2"}, {}, "ListObjectsV2"),
    ("GET", True, {"x-id": "GetObject"}, {}, "GetObject"),
    ("PATCH", False, {}, {}, None),
])
def test_a_request_is_named_by_its_s3_operation(method: str, has_key: bool,
                                                args: dict[str, str], headers: dict[str, str],
                                                expected: str | None):
    assert s3_operation(method, has_key, args, list(headers)) == expected


def test_a_request_s3_lacks_is_named_by_its_line(server: DiskS3Server, bucket: str):
    request = urllib.request.Request(f"{server.url}/{bucket}?x=1", method="PATCH")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    body = info.value.read().decode()
    assert info.value.code == 400
    assert "<Code>NotImplemented</Code>" in body
    assert f"This request (PATCH /{bucket}?x) is not implemented" in body, body
