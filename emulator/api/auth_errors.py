"""A refused signature in AWS's words, per wire protocol.

S3 (rest-xml) has codes of its own (InvalidAccessKeyId, SignatureDoesNotMatch, AccessDenied,
RequestTimeTooSkewed, XAmzContentSHA256Mismatch), all 403 but for a malformed request (400).
The JSON services (SageMaker, CloudWatch Logs; CloudWatch metrics' CBOR too) answer 400 with
UnrecognizedClientException, InvalidSignatureException, MissingAuthenticationTokenException or
IncompleteSignatureException; the query services (IAM, STS) 403 with InvalidClientTokenId,
SignatureDoesNotMatch or MissingAuthenticationToken, and 400 IncompleteSignature.
"""

from __future__ import annotations

import time

from werkzeug.wrappers import Response

from emulator.api.wire_errors import QUERY, REST_XML, WireRequest, error_response
from emulator.auth import sigv4 as S

TOKEN_INVALID = "The security token included in the request is invalid."
_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you "
                       "provided. Check your AWS Secret Access Key and signing method. Consult "
                       "the service documentation for details.")
_UNSIGNED = "There were headers present in the request which were not signed"
_TOO_LARGE = ("The request body is larger than smemu's limit of {} bytes for a request of "
              "this service.")
_S3_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature "
                          "you provided. Check your key and signing method.")
_S3_TEXT = {
    S.MISSING: (403, "AccessDenied", "Access Denied"),
    S.UNKNOWN_KEY: (403, "InvalidAccessKeyId",
                    "The AWS Access Key Id you provided does not exist in our records."),
    S.MISMATCH: (403, "SignatureDoesNotMatch", _S3_SIGNATURE_MISMATCH),
    S.PAYLOAD: (400, "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed."),
    S.SKEWED: (403, "RequestTimeTooSkewed",
               "The difference between the request time and the current time is too large."),
    S.EXPIRED: (403, "AccessDenied", "Request has expired"),
    S.UNSUPPORTED: (400, "InvalidRequest", "The authorization mechanism you have provided is "
                                           "not supported. Please use AWS4-HMAC-SHA256."),
    S.MALFORMED: (400, "AuthorizationHeaderMalformed", "The authorization header is malformed"),
    S.NO_CONTENT_SHA256: (400, "InvalidRequest",
                          "Missing required header for this request: x-amz-content-sha256"),
    S.UNSIGNED_HEADER: (403, "AccessDenied", _UNSIGNED),
}
_JSON_TEXT = {
    S.MISSING: (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
    S.UNKNOWN_KEY: (400, "UnrecognizedClientException", TOKEN_INVALID),
    S.MISMATCH: (400, "InvalidSignatureException", _SIGNATURE_MISMATCH),
    S.PAYLOAD: (400, "InvalidSignatureException", _SIGNATURE_MISMATCH),
    S.SKEWED: (400, "InvalidSignatureException", "Signature expired"),
    S.EXPIRED: (400, "InvalidSignatureException", "Signature expired"),
    S.UNSUPPORTED: (400, "IncompleteSignatureException",
                    "The authorization mechanism you have provided is not supported. Please "
                    "use AWS4-HMAC-SHA256."),
    S.MALFORMED: (400, "IncompleteSignatureException", "The request signature is incomplete"),
    S.UNSIGNED_HEADER: (400, "InvalidSignatureException", _UNSIGNED),
    S.TOO_LARGE: (413, "ValidationException", _TOO_LARGE),
}
_QUERY_TEXT = {
    **{kind: (403 if status == 400 and kind != S.MALFORMED else status, code, text)
       for kind, (status, code, text) in _JSON_TEXT.items()},
    S.MISSING: (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    S.UNKNOWN_KEY: (403, "InvalidClientTokenId", TOKEN_INVALID),
    S.MISMATCH: (403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH),
    S.PAYLOAD: (403, "SignatureDoesNotMatch", _SIGNATURE_MISMATCH),
    S.SKEWED: (403, "SignatureDoesNotMatch", "Signature expired"),
    S.EXPIRED: (403, "SignatureDoesNotMatch", "Signature expired"),
    S.MALFORMED: (400, "IncompleteSignature", "The request signature is incomplete"),
    S.UNSUPPORTED: (400, "IncompleteSignature", "The authorization mechanism you have "
                                                "provided is not supported."),
    S.UNSIGNED_HEADER: (403, "SignatureDoesNotMatch", _UNSIGNED),
    S.TOO_LARGE: (413, "ValidationError", _TOO_LARGE),
}


def refusal(request: WireRequest, failure: S.AuthFailure, now: float | None = None
            ) -> Response:
    """The error answering `failure`, in the protocol of `request`."""
    table = {REST_XML: _S3_TEXT, QUERY: _QUERY_TEXT}.get(request.protocol, _JSON_TEXT)
    status, code, text = table.get(failure.kind, table[S.MALFORMED])
    if failure.kind in (S.SKEWED, S.EXPIRED) and request.protocol != REST_XML:
        text = f"{text}: {failure.detail} is not within 15 minutes of {_stamp(now)}"
    elif failure.kind in (S.MALFORMED, S.UNSUPPORTED, S.UNSIGNED_HEADER) and failure.detail:
        text = f"{text}: {failure.detail}"
    elif failure.kind == S.TOO_LARGE:
        text = text.format(failure.detail)
    return error_response(request, status, code, text)


def _stamp(now: float | None) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
