"""smemu's own plain-HTTP calls to the endpoint (/_smemu/ routes, and S3 where a client would
cost more than the call), SigV4-signed with the endpoint's keys by botocore's signer, as boto3
signs the rest."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from emulator.auth.keys import AuthKeys, client_keys
from emulator.contract import DEFAULT_REGION

SIGNING_NAME = "sagemaker"  # the endpoint's extension routes live beside its SageMaker API


def signed_request(url: str, method: str = "GET", data: bytes | None = None,
                   keys: AuthKeys | None = None, region: str = DEFAULT_REGION,
                   service: str = SIGNING_NAME) -> urllib.request.Request:
    """A urllib request for `url`, signed (with the configured keys when none are given) for
    `service`: S3's signer for "s3" (it signs the payload's hash too), SigV4's otherwise."""
    keys = keys or client_keys()
    host = urlsplit(url).netloc
    unsigned = AWSRequest(method=method, url=url, data=data or b"", headers={"Host": host})
    signer = S3SigV4Auth if service == "s3" else SigV4Auth
    signer(Credentials(keys.access_key, keys.secret_key), service, region).add_auth(unsigned)
    return urllib.request.Request(url, data=data, method=method,
                                  headers=dict(unsigned.headers.items()))
