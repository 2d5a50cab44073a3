"""S3 errors as S3 sends them: an XML document with a code, a message and the request's id."""

from __future__ import annotations

import uuid
from xml.sax.saxutils import escape


class S3Error(Exception):
    """An S3 error answer; ``fields`` become extra elements (Key, BucketName, ...)."""

    def __init__(self, code: str, message: str, status: int, **fields: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.fields = code, message, status, fields
        self.headers: dict[str, str] = {}  # sent with the error (x-amz-delete-marker, ...)

    def body(self, request_id: str | None = None) -> bytes:
        extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in self.fields.items())
        return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{self.code}</Code>'
                f"<Message>{escape(self.message)}</Message>{extra}"
                f"<RequestId>{request_id or uuid.uuid4().hex}</RequestId></Error>").encode()


def not_implemented(operation: str | None, request_line: str) -> S3Error:
    """A 4xx (never a 5xx for a missing feature) in S3's XML, naming the operation (S3's own
    name, e.g. GetObjectTagging, when the request is one of S3's) and the request."""
    what = f"The operation {operation}" if operation else "This request"
    return S3Error("NotImplemented", f"{what} ({request_line}) is not implemented by smemu's "
                   "disk S3; run `smemu serve --s3-backend moto` if you need it.", 400)
