"""The disk S3's HTTP details: request bodies (aws-chunked too), ranges, conditions, XML."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol
from xml.sax.saxutils import escape

from emulator.storage.disk_s3.errors import S3Error

READ_CHUNK = 1024 * 1024
XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class Readable(Protocol):
    def read(self, amount: int = -1, /) -> bytes: ...


class AwsChunkedReader:
    """The payload inside ``Content-Encoding: aws-chunked`` framing (SigV4 streaming or an
    unsigned body with a trailing checksum): ``<hex size>[;chunk-signature=...]\\r\\n<data>\\r\\n``
    ... ``0\\r\\n<trailers>\\r\\n``. Signatures and trailers are not checked (no IAM here)."""

    def __init__(self, raw: Readable) -> None:
        self.raw = raw
        self.left = 0  # bytes left in the current chunk
        self.done = False

    def _line(self) -> bytes:
        line = b""
        while not line.endswith(b"\r\n"):
            byte = self.raw.read(1)
            if not byte:
                raise S3Error("IncompleteBody", "The aws-chunked body ended early", 400)
            line += byte
            if len(line) > 4096:
                raise S3Error("InvalidRequest", "A malformed aws-chunked body", 400)
        return line[:-2]

    def read(self, amount: int = -1, /) -> bytes:
        if self.done:
            return b""
        if self.left == 0:
            header = self._line().split(b";", 1)[0].strip()
            try:
                self.left = int(header, 16)
            except ValueError:
                raise S3Error("InvalidRequest", "A malformed aws-chunked body", 400) from None
            if self.left == 0:
                while self._line():  # trailers (x-amz-checksum-...), then an empty line
                    pass
                self.done = True
                return b""
        want = self.left if amount < 0 else min(amount, self.left)
        data = self.raw.read(want)
        if not data:
            raise S3Error("IncompleteBody", "The aws-chunked body ended early", 400)
        self.left -= len(data)
        if self.left == 0:
            self._line()  # the chunk's closing CRLF
        return data


def request_body(environ: dict[str, Any], stream: Readable) -> tuple[Readable, int | None]:
    """The object's bytes and their number (None: read to the end)."""
    encoding = environ.get("HTTP_CONTENT_ENCODING", "")
    sha = environ.get("HTTP_X_AMZ_CONTENT_SHA256", "")
    decoded = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH")
    if "aws-chunked" in encoding or sha.startswith("STREAMING-"):
        return AwsChunkedReader(stream), _length(decoded, "x-amz-decoded-content-length")
    return stream, _length(environ.get("CONTENT_LENGTH"), "Content-Length")


def _length(value: str | None, header: str) -> int | None:
    if not value:
        return None
    try:
        length = int(value)
    except ValueError:
        length = -1
    if length < 0:
        raise S3Error("InvalidArgument", f"{header} must be a non-negative integer", 400,
                      ArgumentName=header)
    return length


def stored_headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request headers S3 keeps with an object and sends back on GET."""
    kept: dict[str, str] = {}
    for name in ("CONTENT_TYPE", "HTTP_CACHE_CONTROL", "HTTP_CONTENT_DISPOSITION",
                 "HTTP_CONTENT_LANGUAGE", "HTTP_EXPIRES"):
        if environ.get(name):
            kept[name.removeprefix("HTTP_").replace("_", "-").title()] = environ[name]
    encoding = ",".join(p for p in environ.get("HTTP_CONTENT_ENCODING", "").split(",")
                        if p.strip() and p.strip() != "aws-chunked")
    if encoding:
        kept["Content-Encoding"] = encoding
    for name, value in environ.items():
        if name.startswith("HTTP_X_AMZ_META_"):
            kept["x-amz-meta-" + name[16:].lower().replace("_", "-")] = value
    return kept


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) of a single ``bytes=`` range; None to send the whole object."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not match or (not match.group(1) and not match.group(2)):
        return None  # S3 ignores a range it cannot parse (and several ranges)
    first, last = match.groups()
    if not first:
        length = int(last)
        if length == 0:
            raise _unsatisfiable(size)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> S3Error:
    return S3Error("InvalidRange", "The requested range is not satisfiable", 416,
                   ActualObjectSize=str(size))


def _etag_matches(header: str, etag: str) -> bool:
    wanted = [t.strip().removeprefix("W/").strip('"') for t in header.split(",")]
    return "*" in wanted or etag.strip('"') in wanted


def check_conditions(environ: dict[str, Any], etag: str, modified: float) -> int | None:
    """304 or 412 when the request's If-* headers say so (S3's precedence), else None."""
    if_match = environ.get("HTTP_IF_MATCH")
    if_none = environ.get("HTTP_IF_NONE_MATCH")
    since = _date(environ.get("HTTP_IF_MODIFIED_SINCE"))
    unmodified = _date(environ.get("HTTP_IF_UNMODIFIED_SINCE"))
    seconds = int(modified)
    if if_match is not None:
        if not _etag_matches(if_match, etag):
            return 412
    elif unmodified is not None and seconds > unmodified:
        return 412
    if if_none is not None:
        if _etag_matches(if_none, etag):
            return 304
    elif since is not None and seconds <= since:
        return 304
    return None


def _date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None


def http_date(when: float) -> str:
    return email.utils.formatdate(when, usegmt=True)


def iso_date(when: float) -> str:
    from datetime import datetime, timezone
    stamp = datetime.fromtimestamp(when, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def stream_segments(segments: list[tuple[Path, int]], start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of the concatenated segments, a chunk at a time.
    Every file is opened first, so a body replaced meanwhile is still read whole."""
    handles = [(path.open("rb"), size) for path, size in segments]
    try:
        offset, left = 0, end - start + 1
        for handle, size in handles:
            if left <= 0:
                break
            if offset + size <= start:
                offset += size
                continue
            handle.seek(max(0, start - offset))
            take = min(left, size - max(0, start - offset))
            while take > 0:
                chunk = handle.read(min(READ_CHUNK, take))
                if not chunk:
                    raise OSError(f"{handle.name} is shorter than recorded")
                take -= len(chunk)
                left -= len(chunk)
                yield chunk
            offset += size
    finally:
        for handle, _ in handles:
            handle.close()


def xml(root: str, body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{XMLNS}">{body}</{root}>'
            ).encode()


def element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"
