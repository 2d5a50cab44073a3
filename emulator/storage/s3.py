"""S3 endpoints and clients: the embedded one (moto, same port as the API) or any S3 URL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from emulator.contract import DEFAULT_REGION
from emulator.s3uri import parse_s3_uri
from emulator.storage.blobstore import BlobStore
from emulator.storage.boto_store import BotoBlobStore
from emulator.storage.lean_store import LeanS3
from emulator.storage.signed_http import SignedHttpStore

# moto accepts any credentials; these keep boto3 from looking further (and from IMDS).
DUMMY_CREDENTIALS = {"aws_access_key_id": "smemu", "aws_secret_access_key": "smemu"}


def split_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/a/b' -> ('bucket', 'a/b'), the key as written (https:// taken too)."""
    loc = parse_s3_uri(uri, allow_https=True)
    return loc.bucket, loc.key


TRANSPORTS = ("boto3", "botocore-urllib3", "http1")


@dataclass(frozen=True)
class S3Endpoint:
    """Where S3 lives for the jobs of one endpoint process.

    ``whole_object``: the server holds every object whole (the embedded moto), so transfers
    use one streamed request per object (see ``BlobStore.whole_object``). ``transport``: how
    the blob store speaks to it (one of ``TRANSPORTS``).
    """

    url: str
    region: str = DEFAULT_REGION
    access_key: str = DUMMY_CREDENTIALS["aws_access_key_id"]
    secret_key: str = DUMMY_CREDENTIALS["aws_secret_access_key"]
    whole_object: bool = False
    transport: str = "boto3"

    def blob_store(self, *, pool_size: int = 16) -> BlobStore:
        """The checkpoint engine's way to this S3, chosen here from the configuration. No
        transport retries: the engine's own layer retries (``emulator.checkpoints.retry``)."""
        client = self.client(
            retries={"total_max_attempts": 1},
            max_pool_connections=pool_size,
            # A streamed body is sent as it is read, not read first to hash it.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
        )
        if self.transport == "boto3":
            return BotoBlobStore(client, whole_object=self.whole_object)
        if self.transport == "botocore-urllib3":
            return SignedHttpStore(self.url, self.region, self.access_key, self.secret_key,
                                   pool_size=pool_size, whole_object=self.whole_object,
                                   multipart_client=client)
        if self.transport == "http1":
            return LeanS3(self.url, self.region, Credentials(self.access_key, self.secret_key),
                          pool_size=pool_size, whole_object=self.whole_object,
                          multipart_client=client)
        raise ValueError(f"unknown S3 transport {self.transport!r} (one of {TRANSPORTS})")

    def client(self, service: str = "s3", **config: Any) -> Any:
        """A boto3 client; ``config`` adds to (or overrides) the botocore Config below."""
        settings: dict[str, Any] = {
            "retries": {"max_attempts": 8, "mode": "standard"},
            "s3": {"addressing_style": "path"},
            "max_pool_connections": 32,
            # Checksums only where S3 requires them: the CPU goes to moving bytes.
            "request_checksum_calculation": "when_required",
        }
        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(**{**settings, **config}),
        )


def bucket_exists(client: Any, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        return False
    return True


def ensure_bucket(client: Any, bucket: str) -> bool:
    """Create the bucket if it is missing; True if it was created."""
    if bucket_exists(client, bucket):
        return False
    client.create_bucket(Bucket=bucket)
    return True
