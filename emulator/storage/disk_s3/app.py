"""The disk S3 as a WSGI application: path-style (and ``bucket.localhost``) S3 REST requests.

Bodies stream both ways: a PUT or a part goes to a file as it arrives, a GET is sent from the
file a chunk at a time, so the server's memory does not grow with the objects. Requests are
not authenticated (as with moto: a local endpoint has no IAM).
"""

from __future__ import annotations

import base64
import logging
import re
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from emulator.storage.disk_s3 import listing
from emulator.storage.disk_s3.errors import S3Error, not_implemented
from emulator.storage.disk_s3.operations import s3_operation
from emulator.storage.disk_s3.store import NULL_VERSION, DiskObjectStore, Version
from emulator.storage.disk_s3.wire import (
    check_conditions,
    element,
    http_date,
    iso_date,
    parse_range,
    request_body,
    stored_headers,
    stream_segments,
    xml,
)

log = logging.getLogger(__name__)
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
MAX_XML_BODY = 2 * 1024 * 1024
# Sub-resources this server does not keep; asking for one is a 4xx naming it.
UNSUPPORTED = ("acl", "tagging", "policy", "cors", "lifecycle", "encryption", "replication",
               "website", "logging", "notification", "object-lock", "retention", "legal-hold",
               "accelerate", "requestPayment", "analytics", "inventory", "metrics",
               "ownershipControls", "publicAccessBlock", "intelligent-tiering", "torrent",
               "restore", "select", "attributes")


class DiskS3App:
    def __init__(self, root: Path, region: str = "us-east-1") -> None:
        self.store = DiskObjectStore(root)
        self.region = region

    def close(self) -> None:
        self.store.close()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request_id = uuid.uuid4().hex[:16].upper()
        try:
            response = self._route(request)
        except S3Error as err:
            response = _error(_drained(request) or err, request, request_id)
        except Exception as err:  # answered in S3's format, logged in full
            log.exception("disk S3 failed on %s %s", request.method, request.path)
            response = _error(S3Error("InternalError", f"We encountered an internal error: "
                                      f"{type(err).__name__}", 500), request, request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers["x-amz-id-2"] = request_id
        return response(environ, start_response)

    # -- routing ------------------------------------------------------------------------
    def _route(self, request: Request) -> Response:
        bucket, key = _bucket_and_key(request)
        args = request.args
        method = request.method
        if any(name in args for name in UNSUPPORTED):
            raise _unsupported(request, bool(key))
        if not bucket:
            if method == "GET":
                return _xml(listing.list_buckets(self.store))
            raise S3Error("MethodNotAllowed", "The specified method is not allowed against "
                          "this resource.", 405, Method=method, ResourceType="SERVICE")
        if not key:
            return self._bucket(request, bucket)
        return self._object(request, bucket, key)

    def _bucket(self, request: Request, bucket: str) -> Response:
        method, args = request.method, request.args
        if method == "PUT" and "versioning" in args:
            status = _xml_field(request, "Status")
            if status not in ("Enabled", "Suspended"):
                raise S3Error("MalformedXML", "The XML you provided was not well-formed or did "
                              "not validate against our published schema", 400)
            self.store.set_versioning(bucket, status)
            return Response(status=200)
        if method == "PUT":
            if not BUCKET_NAME.match(bucket) or ".." in bucket:
                raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400,
                              BucketName=bucket)
            _read_small(request)  # CreateBucketConfiguration: one region here
            self.store.create_bucket(bucket)
            return Response(status=200, headers={"Location": f"/{bucket}"})
        if method == "HEAD":
            self.store.versioning(bucket)
            return Response(status=200, headers={"x-amz-bucket-region": self.region})
        if method == "DELETE":
            self.store.delete_bucket(bucket)
            return Response(status=204)
        if method == "POST" and "delete" in args:
            return self._delete_many(request, bucket)
        if method != "GET":
            raise _unsupported(request, False)
        if "versioning" in args:
            status = self.store.versioning(bucket)
            return _xml(xml("VersioningConfiguration", element("Status", status) if status
                            else ""))
        if "location" in args:
            self.store.versioning(bucket)
            region = "" if self.region == "us-east-1" else self.region
            return _xml(xml("LocationConstraint", region))
        if "versions" in args:
            return _xml(listing.list_versions(self.store, bucket, args))
        if "uploads" in args:
            return _xml(listing.list_uploads(self.store, bucket, args))
        return _xml(listing.list_objects(self.store, bucket, args))

    def _object(self, request: Request, bucket: str, key: str) -> Response:
        method, args = request.method, request.args
        if len(key.encode()) > 1024:
            raise S3Error("KeyTooLongError", "Your key is too long", 400)
        if method == "PUT" and "partNumber" in args and "uploadId" in args:
            if request.headers.get("x-amz-copy-source"):
                raise _unsupported(request, True)
            body, length = self._body(request)
            etag = self.store.upload_part(bucket, key, args["uploadId"],
                                          _int(args["partNumber"], "partNumber"), body, length)
            return Response(status=200, headers={"ETag": etag})
        if method == "PUT" and request.headers.get("x-amz-copy-source"):
            return self._copy(request, bucket, key)
        if method == "PUT":
            return self._put(request, bucket, key)
        if method == "POST" and "uploads" in args:
            upload_id = self.store.create_upload(bucket, key, stored_headers(request.environ))
            return _xml(xml("InitiateMultipartUploadResult", element("Bucket", bucket)
                            + element("Key", key) + element("UploadId", upload_id)))
        if method == "POST" and "uploadId" in args:
            return self._complete(request, bucket, key)
        if method == "DELETE" and "uploadId" in args:
            self.store.abort_upload(bucket, key, args["uploadId"])
            return Response(status=204)
        if method == "DELETE":
            return self._delete(bucket, key, args.get("versionId"))
        if method in ("GET", "HEAD") and "uploadId" in args:
            raise _unsupported(request, True)
        if method in ("GET", "HEAD"):
            return self._get(request, bucket, key)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this "
                      "resource.", 405, Method=method, ResourceType="OBJECT")

    # -- objects ------------------------------------------------------------------------
    def _body(self, request: Request) -> tuple[Any, int | None]:
        return request_body(request.environ, request.stream)

    def _put(self, request: Request, bucket: str, key: str) -> Response:
        self.store.versioning(bucket)  # before reading a body for a bucket that is not there
        body, length = self._body(request)
        received, size, md5 = self.store.receive(body, length)
        wanted_md5 = request.headers.get("Content-MD5")
        if wanted_md5 and _b64_md5(wanted_md5) != md5:
            received.unlink(missing_ok=True)
            raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we "
                          "received.", 400)
        version = self.store.put(bucket, key, received, size, f'"{md5}"',
                                 stored_headers(request.environ))
        return Response(status=200, headers={**_version_headers(version), "ETag": version.etag})

    def _copy(self, request: Request, bucket: str, key: str) -> Response:
        source = urllib.parse.unquote(request.headers["x-amz-copy-source"])
        source, _, query = source.partition("?")
        src_bucket, _, src_key = source.lstrip("/").partition("/")
        version_id = urllib.parse.parse_qs(query).get("versionId", [None])[0]
        found = self.store.get(src_bucket, src_key, version_id)
        if found.delete_marker:
            raise S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=src_key)
        replace = request.headers.get("x-amz-metadata-directive", "COPY") == "REPLACE"
        headers = stored_headers(request.environ) if replace else found.headers
        version = self.store.copy(found, bucket, key, headers)
        body = xml("CopyObjectResult", element("LastModified", iso_date(version.modified))
                   + element("ETag", version.etag))
        return _xml(body, headers=_version_headers(version))

    def _complete(self, request: Request, bucket: str, key: str) -> Response:
        root = _parse_xml(request)
        wanted = []
        for part in root.iter():
            if _local(part.tag) != "Part":
                continue
            fields = {_local(child.tag): (child.text or "") for child in part}
            wanted.append((_int(fields.get("PartNumber", ""), "PartNumber"),
                           fields.get("ETag", "")))
        version = self.store.complete_upload(bucket, key, request.args["uploadId"], wanted)
        body = xml("CompleteMultipartUploadResult", element("Location", f"/{bucket}/{key}")
                   + element("Bucket", bucket) + element("Key", key)
                   + element("ETag", version.etag))
        return _xml(body, headers=_version_headers(version))

    def _delete(self, bucket: str, key: str, version_id: str | None) -> Response:
        gone = self.store.delete(bucket, key, version_id)
        headers = {}
        if gone is not None and gone.delete_marker:
            headers["x-amz-delete-marker"] = "true"
        if gone is not None and (version_id or gone.version_id != NULL_VERSION):
            headers["x-amz-version-id"] = gone.version_id
        return Response(status=204, headers=headers)

    def _delete_many(self, request: Request, bucket: str) -> Response:
        root = _parse_xml(request)
        quiet = any(_local(e.tag) == "Quiet" and (e.text or "").lower() == "true"
                    for e in root)
        body = ""
        for item in root:
            if _local(item.tag) != "Object":
                continue
            fields = {_local(child.tag): (child.text or "") for child in item}
            key, version_id = fields.get("Key", ""), fields.get("VersionId") or None
            try:
                gone = self.store.delete(bucket, key, version_id)
            except S3Error as err:
                body += (f"<Error>{element('Key', key)}{element('Code', err.code)}"
                         f"{element('Message', err.message)}</Error>")
                continue
            if quiet:
                continue
            body += f"<Deleted>{element('Key', key)}"
            if version_id:
                body += element("VersionId", version_id)
            if gone is not None and gone.delete_marker:
                body += element("DeleteMarker", "true")
                body += element("DeleteMarkerVersionId", gone.version_id)
            body += "</Deleted>"
        return _xml(xml("DeleteResult", body))

    def _get(self, request: Request, bucket: str, key: str) -> Response:
        version_id = request.args.get("versionId")
        version = self.store.get(bucket, key, version_id)
        if version.delete_marker:
            headers = {"x-amz-delete-marker": "true", "x-amz-version-id": version.version_id}
            if version_id:
                raise _with_headers(S3Error("MethodNotAllowed", "The specified method is not "
                                            "allowed against this resource.", 405,
                                            Method=request.method, ResourceType="DeleteMarker"),
                                    headers)
            raise _with_headers(S3Error("NoSuchKey", "The specified key does not exist.", 404,
                                        Key=key), headers)
        headers = {**_version_headers(version), "ETag": version.etag,
                   "Last-Modified": http_date(version.modified), "Accept-Ranges": "bytes",
                   "Content-Type": "binary/octet-stream", **version.headers}
        condition = check_conditions(request.environ, version.etag, version.modified)
        if condition == 304:
            return Response(status=304, headers={k: v for k, v in headers.items()
                                                 if k != "Content-Type"})
        if condition == 412:
            raise S3Error("PreconditionFailed", "At least one of the pre-conditions you "
                          "specified did not hold", 412, Condition="If-Match")
        status, start, end = 200, 0, version.size - 1
        wanted = request.headers.get("Range")
        if wanted and version.size > 0:
            chosen = parse_range(wanted, version.size)
            if chosen is not None:
                status, (start, end) = 206, chosen
                headers["Content-Range"] = f"bytes {start}-{end}/{version.size}"
        elif wanted:
            raise S3Error("InvalidRange", "The requested range is not satisfiable", 416)
        headers["Content-Length"] = str(end - start + 1)
        for name, value in request.args.items():  # response-content-type=... overrides
            if name.startswith("response-"):
                headers[name[9:].title()] = value
        if request.method == "HEAD":
            response = Response(status=status, headers=headers)
            response.headers["Content-Length"] = str(end - start + 1)
            return response
        body = stream_segments(self.store.segments(version), start, end) \
            if end >= start else iter(())
        return Response(body, status=status, headers=headers, direct_passthrough=True)


def _drained(request: Request) -> S3Error | None:
    """Read and drop what is left of the body before an error is answered, as S3 (and moto)
    read a request whole: a stalled body ends as a RequestTimeout, not as an early answer."""
    try:
        while request.stream.read(1024 * 1024):
            pass
    except (OSError, HTTPException) as err:
        if isinstance(err, TimeoutError) or isinstance(err.__context__, TimeoutError):
            return S3Error("RequestTimeout", "Your socket connection to the server was not read "
                           "from or written to within the timeout period.", 400)
        return S3Error("IncompleteBody", "The request body did not arrive whole: "
                       f"{type(err).__name__}", 400)
    return None


def _bucket_and_key(request: Request) -> tuple[str, str]:
    host = (request.host or "").split(":", 1)[0]
    path = request.path.lstrip("/")
    if host.endswith(".localhost"):
        return host[: -len(".localhost")], path
    bucket, _, key = path.partition("/")
    return bucket, key


def _unsupported(request: Request, has_key: bool) -> S3Error:
    """NotImplemented for this request, naming its S3 operation and the request itself."""
    names = "&".join(dict.fromkeys(request.args))
    line = f"{request.method} {request.path}" + (f"?{names}" if names else "")
    return not_implemented(s3_operation(request.method, has_key, request.args,
                                        request.headers.keys()), line)


def _version_headers(version: Version) -> dict[str, str]:
    if version.version_id == NULL_VERSION:
        return {}
    return {"x-amz-version-id": version.version_id}


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise S3Error("InvalidArgument", f"{name} must be an integer", 400,
                      ArgumentName=name) from None


def _b64_md5(value: str) -> str:
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        raise S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400
                      ) from None


def _read_small(request: Request) -> bytes:
    length = request.content_length or 0
    if length > MAX_XML_BODY:
        raise S3Error("MaxMessageLengthExceeded", "Your request was too big.", 400)
    body, size = request_body(request.environ, request.stream)
    return body.read(min(size if size is not None else MAX_XML_BODY, MAX_XML_BODY))


def _parse_xml(request: Request) -> ET.Element:
    try:
        return ET.fromstring(_read_small(request))
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not "
                      "validate against our published schema", 400) from None


def _xml_field(request: Request, name: str) -> str | None:
    for item in _parse_xml(request).iter():
        if _local(item.tag) == name:
            return item.text
    return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, content_type="application/xml", headers=headers)


def _with_headers(err: S3Error, headers: dict[str, str]) -> S3Error:
    err.headers.update(headers)
    return err


def _error(err: S3Error, request: Request, request_id: str) -> Response:
    headers = dict(err.headers)
    if request.method == "HEAD":  # a HEAD answer has no body: botocore reads the status
        return Response(status=err.status, headers=headers)
    return Response(err.body(request_id), status=err.status, content_type="application/xml",
                    headers=headers)

