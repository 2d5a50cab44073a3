"""S3's XML answers for stores that speak HTTP themselves: listings and error bodies."""

from __future__ import annotations

import re
from urllib.parse import quote, unquote_plus
from xml.etree import ElementTree

from botocore.exceptions import ClientError

from emulator.storage.blobstore import StoredObject

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
_ERROR_BODY_LIMIT = 64 * 1024
_CODE = re.compile(rb"<Code>([^<]*)</Code>")
_MESSAGE = re.compile(rb"<Message>([^<]*)</Message>")


def listing_query(prefix: str, token: str | None, page_size: int | None = None) -> str:
    """The ListObjectsV2 query, sorted and encoded as SigV4 canonicalizes it (keys asked for
    URL-encoded, as botocore asks)."""
    query = {"list-type": "2", "prefix": prefix, "encoding-type": "url"}
    if token is not None:
        query["continuation-token"] = token
    if page_size is not None:
        query["max-keys"] = str(page_size)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                    for k, v in sorted(query.items()))


def parse_listing(body: bytes | bytearray) -> tuple[list[StoredObject], str | None]:
    """One ListObjectsV2 page: its objects, and the continuation token if it is truncated."""
    root = ElementTree.fromstring(body)
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    url_encoded = (root.findtext(f"{ns}EncodingType") or "").lower() == "url"
    objects: list[StoredObject] = []
    for item in root.iter(f"{ns}Contents"):
        key = item.findtext(f"{ns}Key") or ""
        objects.append(StoredObject(unquote_plus(key) if url_encoded else key,
                                    int(item.findtext(f"{ns}Size") or 0),
                                    item.findtext(f"{ns}ETag") or ""))
    truncated = (root.findtext(f"{ns}IsTruncated") or "").lower() == "true"
    token = root.findtext(f"{ns}NextContinuationToken") if truncated else None
    if truncated and not token:
        raise ClientError({"Error": {"Code": "MalformedListing",
                                     "Message": "truncated listing without a token"}},
                          "ListObjectsV2")
    return objects, token


def client_error(status: int, body: bytes | bytearray, operation: str) -> ClientError:
    """A botocore ClientError with S3's error code (the HTTP status when the body has none)."""
    body = (body or b"")[:_ERROR_BODY_LIMIT]
    code_match = _CODE.search(body)
    message_match = _MESSAGE.search(body)
    code = code_match.group(1).decode(errors="replace") if code_match else str(status)
    message = message_match.group(1).decode(errors="replace") if message_match else ""
    return ClientError(
        {"Error": {"Code": code, "Message": message},
         "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )
