"""ListObjects (V1 and V2), ListObjectVersions and ListBuckets as S3 answers them."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping

from emulator.storage.disk_s3.errors import S3Error
from emulator.storage.disk_s3.store import DiskObjectStore, Version
from emulator.storage.disk_s3.wire import element, iso_date, xml

OWNER = "<Owner><ID>smemu</ID><DisplayName>smemu</DisplayName></Owner>"


def _max_keys(args: Mapping[str, str]) -> int:
    try:
        value = int(args.get("max-keys", "1000"))
    except ValueError:
        raise S3Error("InvalidArgument", "Provided max-keys not an integer or within integer "
                      "range", 400, ArgumentName="max-keys") from None
    if value < 0:
        raise S3Error("InvalidArgument", "max-keys must be non-negative", 400,
                      ArgumentName="max-keys")
    return min(value, 1000)


def _page(items: Iterator[Version], prefix: str, delimiter: str, after: str, limit: int,
          skip: int = 0) -> tuple[list[Version], list[str], bool, Version | str | None]:
    """Group ``items`` (key order, keys > ``after``) into entries and common prefixes, up to
    ``limit`` of both; (entries, prefixes, truncated, the last one counted)."""
    entries: list[Version] = []
    prefixes: list[str] = []
    last: Version | str | None = None
    for item in items:
        if not item.key.startswith(prefix):
            if item.key > prefix:
                break
            continue
        if item.key <= after:
            continue
        if delimiter:
            cut = item.key.find(delimiter, len(prefix))
            if cut >= 0:
                common = item.key[: cut + len(delimiter)]
                if common == last or (prefixes and prefixes[-1] == common) or common <= after:
                    continue
                if len(entries) + len(prefixes) >= limit:
                    return entries, prefixes, True, last
                prefixes.append(common)
                last = common
                continue
        if len(entries) + len(prefixes) >= limit:
            return entries, prefixes, True, last
        entries.append(item)
        last = item
    return entries, prefixes, False, last


def _contents(v: Version) -> str:
    return ("<Contents>" + element("Key", v.key) + element("LastModified", iso_date(v.modified))
            + element("ETag", v.etag) + element("Size", v.size)
            + "<StorageClass>STANDARD</StorageClass>" + OWNER + "</Contents>")


def _prefixes(prefixes: list[str]) -> str:
    return "".join(f"<CommonPrefixes>{element('Prefix', p)}</CommonPrefixes>" for p in prefixes)


def list_objects(store: DiskObjectStore, bucket: str, args: Mapping[str, str]) -> bytes:
    prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
    limit, v2 = _max_keys(args), args.get("list-type") == "2"
    if v2:
        token = args.get("continuation-token")
        after = _decode_token(token) if token else args.get("start-after", "")
    else:
        after = args.get("marker", "")
    entries, prefixes, truncated, last = _page(
        store.iter_latest(bucket, max(prefix, after)), prefix, delimiter, after, limit)
    last_key = last.key if isinstance(last, Version) else (last or "")
    head = (element("Name", bucket) + element("Prefix", prefix) + element("MaxKeys", limit)
            + (element("Delimiter", delimiter) if delimiter else "")
            + element("IsTruncated", "true" if truncated else "false"))
    if v2:
        head += element("KeyCount", len(entries) + len(prefixes))
        if token:
            head += element("ContinuationToken", token)
        if args.get("start-after"):
            head += element("StartAfter", args["start-after"])
        if truncated:
            head += element("NextContinuationToken", _encode_token(last_key))
    else:
        head += element("Marker", after)
        if truncated and delimiter:
            head += element("NextMarker", last_key)
    body = head + "".join(_contents(v) for v in entries) + _prefixes(prefixes)
    return xml("ListBucketResult", body)


def list_versions(store: DiskObjectStore, bucket: str, args: Mapping[str, str]) -> bytes:
    prefix, delimiter = args.get("prefix", ""), args.get("delimiter", "")
    limit = _max_keys(args)
    key_marker, version_marker = args.get("key-marker", ""), args.get("version-id-marker", "")
    items = store.iter_versions(bucket, max(prefix, key_marker))
    if key_marker and version_marker:  # resume inside key_marker's versions, after the marker
        items = _after_version(items, key_marker, version_marker)
        after = ""
    else:
        after = key_marker
    entries, prefixes, truncated, last = _page(items, prefix, delimiter, after, limit)
    body = (element("Name", bucket) + element("Prefix", prefix)
            + element("KeyMarker", key_marker) + element("VersionIdMarker", version_marker)
            + element("MaxKeys", limit) + (element("Delimiter", delimiter) if delimiter else "")
            + element("IsTruncated", "true" if truncated else "false"))
    if truncated:
        if isinstance(last, Version):
            body += element("NextKeyMarker", last.key)
            body += element("NextVersionIdMarker", last.version_id)
        elif last:
            body += element("NextKeyMarker", last)
    for v in entries:
        common = (element("Key", v.key) + element("VersionId", v.version_id)
                  + element("IsLatest", "true" if v.is_latest else "false")
                  + element("LastModified", iso_date(v.modified)))
        if v.delete_marker:
            body += f"<DeleteMarker>{common}{OWNER}</DeleteMarker>"
        else:
            body += (f"<Version>{common}{element('ETag', v.etag)}{element('Size', v.size)}"
                     f"<StorageClass>STANDARD</StorageClass>{OWNER}</Version>")
    return xml("ListVersionsResult", body + _prefixes(prefixes))


def _after_version(items: Iterator[Version], key: str, version_id: str) -> Iterator[Version]:
    """The versions after (key, version_id) in listing order; keys before ``key`` dropped."""
    seen = False
    for item in items:
        if item.key < key:
            continue
        if item.key == key and not seen:
            if item.version_id == version_id:
                seen = True
            continue
        yield item


def list_buckets(store: DiskObjectStore) -> bytes:
    buckets = "".join(f"<Bucket>{element('Name', name)}"
                      f"{element('CreationDate', iso_date(created))}</Bucket>"
                      for name, created in store.buckets())
    return xml("ListAllMyBucketsResult", f"{OWNER}<Buckets>{buckets}</Buckets>")


def list_uploads(store: DiskObjectStore, bucket: str, args: Mapping[str, str]) -> bytes:
    uploads = store.list_uploads(bucket, args.get("prefix", ""))
    body = (element("Bucket", bucket) + element("Prefix", args.get("prefix", ""))
            + element("MaxUploads", 1000) + element("IsTruncated", "false"))
    for key, upload_id, created in uploads:
        body += (f"<Upload>{element('Key', key)}{element('UploadId', upload_id)}"
                 f"{element('Initiated', iso_date(created))}"
                 f"<StorageClass>STANDARD</StorageClass>{OWNER}</Upload>")
    return xml("ListMultipartUploadsResult", body)


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect", 400,
                      ArgumentName="continuation-token") from None
