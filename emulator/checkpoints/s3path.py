"""Checkpoint prefixes are S3 URIs: the parser is ``emulator.s3uri``, shared with storage/."""

from __future__ import annotations

from emulator.s3uri import S3Location, join_key, parse_s3_uri

__all__ = ["S3Location", "join_key", "parse_s3_uri"]
