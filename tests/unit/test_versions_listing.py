"""Listing checkpoint versions on S3 servers with and without ListObjectVersions."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from emulator.s3uri import parse_s3_uri
from emulator.storage.versions import bucket_versioning, list_versions
from tests.unit._s3server import MotoS3


class _NoVersions:
    """A client of a server that refuses ListObjectVersions, or answers it as a plain listing."""

    def __init__(self, client: Any, refuse: bool) -> None:
        self.client, self.refuse = client, refuse

    def get_paginator(self, name: str) -> Any:
        if name != "list_object_versions":
            return self.client.get_paginator(name)
        refuse = self.refuse

        class Pages:
            def paginate(self, **_: Any) -> Any:
                if refuse:
                    raise ClientError({"Error": {"Code": "NotImplemented", "Message": "no"}},
                                      "ListObjectVersions")
                return [{"Contents": [{"Key": "ignored"}]}]  # no Versions member at all

        return Pages()


def test_versions_where_the_server_keeps_them(s3: MotoS3, client: Any) -> None:
    bucket = s3.new_bucket(client)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"22"):
        client.put_object(Bucket=bucket, Key="ckpt/a.pt", Body=body)
    found, versioned = list_versions(client, parse_s3_uri(f"s3://{bucket}/ckpt"))
    assert versioned and [(v.path, v.size, v.is_latest) for v in found] == [
        ("a.pt", 1, False), ("a.pt", 2, True)]
    assert bucket_versioning(client, bucket) == "Enabled"


def test_servers_without_versions_fall_back_to_current_files(s3: MotoS3, client: Any) -> None:
    bucket = s3.new_bucket(client)
    client.put_object(Bucket=bucket, Key="ckpt/a.pt", Body=b"1")
    assert bucket_versioning(client, bucket) is None
    loc = parse_s3_uri(f"s3://{bucket}/ckpt/")
    for refuse in (True, False):
        found, versioned = list_versions(_NoVersions(client, refuse), loc)
        assert not versioned
        assert [(v.path, v.size, v.is_latest) for v in found] == [("a.pt", 1, True)]
