"""The one S3 URI parser (emulator.s3uri) and the (bucket, key) form storage/ and jobs/ use."""

from __future__ import annotations

import pytest

from emulator.errors import CheckpointError, InvalidS3Uri, ValidationException
from emulator.s3uri import S3Location, join_key, parse_s3_uri
from emulator.storage.s3 import split_s3_uri


@pytest.mark.parametrize(("uri", "bucket", "key"), [
    ("s3://b", "b", ""),
    ("s3://b/", "b", ""),
    ("s3://b/out/model.tar.gz", "b", "out/model.tar.gz"),
    ("s3://b/train", "b", "train"),          # an S3Prefix channel: a raw key prefix
    ("s3://b/train/", "b", "train/"),
    ("https://b/k", "b", "k"),               # the request shapes' pattern allows https://
])
def test_split_keeps_the_key_as_written(uri: str, bucket: str, key: str) -> None:
    assert split_s3_uri(uri) == (bucket, key)


def test_spellings_of_one_prefix_are_one_location() -> None:
    a, b = parse_s3_uri("s3://b/ckpt"), parse_s3_uri("s3://b/ckpt/")
    assert a == b and a.prefix == "ckpt/" and (a.key, b.key) == ("ckpt", "ckpt/")
    assert S3Location("b", "ckpt/").key == "ckpt/"


@pytest.mark.parametrize(("uri", "message"), [
    ("b/ckpt", "not an S3 URI (expected s3://bucket/prefix): 'b/ckpt'"),
    ("s3:///ckpt", "S3 URI has no bucket: 's3:///ckpt'"),
    ("", "not an S3 URI"),
])
def test_bad_uris_fail_clearly_for_every_caller(uri: str, message: str) -> None:
    with pytest.raises(InvalidS3Uri, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        split_s3_uri(uri)
    with pytest.raises(CheckpointError):  # the checkpoint engine's error
        parse_s3_uri(uri)
    with pytest.raises(ValidationException) as err:  # an AWS error on the wire
        parse_s3_uri(uri)
    assert err.value.code == "ValidationException"


def test_https_only_where_asked() -> None:
    with pytest.raises(InvalidS3Uri):
        parse_s3_uri("https://b/ckpt")
    assert parse_s3_uri("https://b/ckpt", allow_https=True).prefix == "ckpt/"


@pytest.mark.parametrize(("prefix", "relative", "key"), [
    ("a", "x", "a/x"),
    ("a/", "x", "a/x"),
    ("a//", "x", "a/x"),            # one join for checkpoints and artifacts: slashes collapse
    ("a/", "/x/y", "a/x/y"),
    ("", "x/y", "x/y"),
    ("", "/x", "x"),
    ("out/", "job/output/model.tar.gz", "out/job/output/model.tar.gz"),
])
def test_join_key_puts_one_slash_between_prefix_and_path(prefix: str, relative: str,
                                                         key: str) -> None:
    assert join_key(prefix, relative) == key


def test_a_checkpoint_location_and_join_key_agree() -> None:
    location = parse_s3_uri("s3://b/ckpt//")
    assert location.prefix == "ckpt/"
    assert location.key_for("e/1.pt") == join_key(location.key, "e/1.pt") == "ckpt/e/1.pt"
