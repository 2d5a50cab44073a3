"""S3 URIs: the one parser of ``s3://bucket/key-or-prefix`` for every layer (no I/O, no boto3).

``parse_s3_uri`` gives an ``S3Location``: the bucket, the key exactly as written (an object key,
or a raw key prefix as S3Prefix channels use it) and the normalized prefix that checkpoint
prefixes use (``s3://b/ckpt`` and ``s3://b/ckpt/`` both mean the keys under ``ckpt/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.errors import CheckpointError, InvalidS3Uri

_SCHEME = "s3://"
_HTTPS = "https://"


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix that is either empty or ends with ``/``.

    ``key`` is the part after ``bucket/`` as it was written (default: ``prefix``); it does not
    take part in comparisons, so two spellings of one checkpoint prefix are equal.
    """

    bucket: str
    prefix: str
    key: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.key and self.prefix:
            object.__setattr__(self, "key", self.prefix)

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


def parse_s3_uri(uri: str, *, allow_https: bool = False) -> S3Location:
    """Parse ``s3://bucket[/key]``; the prefix gets a trailing ``/`` unless it is empty.

    SageMaker treats ``s3://b/ckpt`` and ``s3://b/ckpt/`` alike: files land under ``ckpt/``.
    ``allow_https`` also takes ``https://bucket/key`` (the request shapes' pattern allows it).
    Raises ``InvalidS3Uri`` (a ValidationException and a CheckpointError) with the reason.
    """
    text = uri if isinstance(uri, str) else ""
    schemes = (_SCHEME, _HTTPS) if allow_https else (_SCHEME,)
    scheme = next((s for s in schemes if text.startswith(s)), None)
    if scheme is None:
        raise InvalidS3Uri(f"not an S3 URI (expected s3://bucket/prefix): {uri!r}")
    bucket, _, key = text[len(scheme) :].partition("/")
    if not bucket:
        raise InvalidS3Uri(f"S3 URI has no bucket: {uri!r}")
    prefix = key.strip("/")
    return S3Location(bucket=bucket, prefix=f"{prefix}/" if prefix else "", key=key)


def join_key(prefix: str, relative_path: str) -> str:
    """The key of ``relative_path`` under ``prefix``, for every layer: one ``/`` between them,
    however many the prefix ends with (``a//`` + ``x`` is ``a/x``), and the relative path alone
    under an empty prefix."""
    relative_path = relative_path.lstrip("/")
    if not prefix:
        return relative_path
    return prefix.rstrip("/") + "/" + relative_path
