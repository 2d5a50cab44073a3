"""S3 URIs for checkpoint prefixes: ``s3://bucket/prefix`` to (bucket, prefix) and keys back."""

from __future__ import annotations

from dataclasses import dataclass

from emulator.errors import CheckpointError

_SCHEME = "s3://"


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix that is either empty or ends with ``/``."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        return f"{_SCHEME}{self.bucket}/{self.prefix}"

    def key_for(self, relative_path: str) -> str:
        """The object key of ``relative_path`` (posix, relative) under this prefix."""
        return join_key(self.prefix, relative_path)

    def relative(self, key: str) -> str:
        """The part of ``key`` after the prefix; ``key`` must lie under the prefix."""
        if not key.startswith(self.prefix):
            raise CheckpointError(f"key {key!r} is not under {self.uri}")
        return key[len(self.prefix) :]


def parse_s3_uri(uri: str) -> S3Location:
    """Parse ``s3://bucket[/prefix]``; the prefix gets a trailing ``/`` unless it is empty.

    SageMaker treats ``s3://b/ckpt`` and ``s3://b/ckpt/`` alike: files land under ``ckpt/``.
    """
    if not uri.startswith(_SCHEME):
        raise CheckpointError(f"not an S3 URI (expected s3://bucket/prefix): {uri!r}")
    rest = uri[len(_SCHEME) :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise CheckpointError(f"S3 URI has no bucket: {uri!r}")
    prefix = prefix.strip("/")
    return S3Location(bucket=bucket, prefix=f"{prefix}/" if prefix else "")


def join_key(prefix: str, relative_path: str) -> str:
    """Join a prefix (empty or ending with ``/``) and a relative posix path into a key."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return prefix + relative_path.lstrip("/")
