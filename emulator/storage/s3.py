"""S3 endpoints and clients: the embedded one (moto, same port as the API) or any S3 URL."""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.config import Config

from emulator.auth.keys import AuthKeys, client_keys
from emulator.contract import DEFAULT_REGION
from emulator.s3uri import parse_s3_uri
from emulator.validation import botocore_session

if TYPE_CHECKING:
    import boto3

    from emulator.storage.blobstore import BlobStore

# moto accepts any credentials; these keep boto3 from looking further (and from IMDS).
DUMMY_CREDENTIALS = {"aws_access_key_id": "smemu", "aws_secret_access_key": "smemu"}
# An S3 that checks signatures (MinIO, `rclone serve s3`) wants its own keys; never the
# AWS_* ones, which are the user's real AWS credentials and have no business going to it.
ACCESS_KEY_ENV, SECRET_KEY_ENV = "SMEMU_S3_ACCESS_KEY_ID", "SMEMU_S3_SECRET_ACCESS_KEY"


def _access_key() -> str:
    return os.environ.get(ACCESS_KEY_ENV) or DUMMY_CREDENTIALS["aws_access_key_id"]


def _secret_key() -> str:
    return os.environ.get(SECRET_KEY_ENV) or DUMMY_CREDENTIALS["aws_secret_access_key"]


def split_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/a/b' -> ('bucket', 'a/b'), the key as written (https:// taken too)."""
    loc = parse_s3_uri(uri, allow_https=True)
    return loc.bucket, loc.key


@dataclass(frozen=True)
class S3Endpoint:
    """Where S3 lives for the jobs of one endpoint process.

    ``whole_object``: the server holds every object whole (the embedded moto), so transfers
    use one streamed request per object (see ``BlobStore.whole_object``).
    """

    url: str
    region: str = DEFAULT_REGION
    access_key: str = field(default_factory=_access_key)  # $SMEMU_S3_ACCESS_KEY_ID, else dummy
    secret_key: str = field(default_factory=_secret_key, repr=False)
    whole_object: bool = False
    # The botocore session the non-S3 clients are made on; None: the process's shared one
    # (emulator.validation's). The CLI's has a trimmed SageMaker model (emulator.cli).
    session: Callable[[], Any] | None = None

    @classmethod
    def of_endpoint(cls, url: str, region: str = DEFAULT_REGION, keys: AuthKeys | None = None,
                    whole_object: bool = False,
                    session: Callable[[], Any] | None = None) -> S3Endpoint:
        """The smemu endpoint at `url` itself, signed with its keys: `keys`, else the
        configured ones (emulator.auth.keys: $SMEMU_AUTH, ...), else the dummy ones."""
        keys = keys or client_keys()
        return cls(url, region, access_key=keys.access_key, secret_key=keys.secret_key,
                   whole_object=whole_object, session=session)

    def blob_store(self) -> BlobStore:
        """The checkpoint engine's way to this S3, made once per endpoint configuration. Its
        client does not retry: the engine's own layer does (``emulator.checkpoints.retry``)."""
        return _blob_store(self)

    def client(self, service: str = "s3", **config: Any) -> Any:
        """A client; ``config`` adds to (or overrides) the botocore Config below. S3's is a
        boto3 client (its transfer methods: ``upload_fileobj``, ``download_file``); the other
        services' are botocore's, which is all boto3 would give them, without importing boto3
        and s3transfer (`smemu run` needs only SageMaker's).

        Made once per endpoint, service and config, then shared (boto3 clients are
        thread-safe): making one loads and parses botocore's JSON models, ~0.1-0.3 s of CPU,
        which every CreateTrainingJob and every job phase paid again."""
        key = (self, service, repr(sorted(config.items())))
        with _clients_lock:
            client = _clients.pop(key, None)
            if client is None:
                client = self._new_client(service, config)
            _clients[key] = client  # the most recently used last
            while len(_clients) > _MAX_CLIENTS:  # endpoints on port 0 come and go in tests
                _clients.popitem(last=False)
        return client

    def own_client(self, service: str = "s3", **config: Any) -> Any:
        """A client no one else shares (event hooks registered on it stay with it); the
        caller closes it."""
        with _clients_lock:
            return self._new_client(service, config)

    def _new_client(self, service: str, config: dict[str, Any]) -> Any:
        settings: dict[str, Any] = {
            "retries": {"max_attempts": 8, "mode": "standard"},
            "s3": {"addressing_style": "path"},
            "max_pool_connections": 32,
            # Checksums only where S3 requires them: the CPU goes to moving bytes.
            "request_checksum_calculation": "when_required",
        }
        # One botocore session: the clients share its loaded models and endpoints, with the
        # request validation (the SageMaker model is parsed once, not twice).
        if service == "s3":
            make = _boto3_session().client
        else:
            make = (self.session or botocore_session)().create_client
        client = make(
            service,
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(**{**settings, **config}),
        )
        # botocore loads a client's exception classes on first use, unguarded: threads meeting
        # a fresh shared client could each get their own classes, and `except
        # client.exceptions.X` then misses the X another thread's call raised. Load them here.
        client.exceptions  # noqa: B018
        return client


_MAX_CLIENTS = 64
_session: boto3.session.Session | None = None  # used under _clients_lock only (not thread-safe)


def _boto3_session() -> boto3.session.Session:
    """The boto3 session over the shared botocore session (called under _clients_lock)."""
    global _session
    if _session is None:
        import boto3.session  # S3's clients only: the import costs s3transfer's too

        _session = boto3.session.Session(botocore_session=botocore_session())
    return _session
_clients: OrderedDict[tuple[S3Endpoint, str, str], Any] = OrderedDict()
_clients_lock = threading.Lock()


def bucket_exists(client: Any, bucket: str) -> bool:
    try:
        client.head_bucket(Bucket=bucket)
    except client.exceptions.ClientError:
        return False
    return True


def bucket_answers(endpoint: S3Endpoint, bucket: str, timeout: float = 10.0) -> bool:
    """True when a signed HEAD of the bucket answers 200: it is there and these keys reach it.

    Plain HTTP, so a command that only checks its buckets (`smemu run`) makes no S3 client
    (botocore's S3 model and rules, ~0.05 s of CPU). False for anything else, missing, refused
    or unreachable: the caller asks a client then (``ensure_bucket``), with its retries and its
    error."""
    from urllib.error import URLError
    from urllib.parse import quote
    from urllib.request import urlopen

    from emulator.auth.signing import signed_request

    url = f"{endpoint.url.rstrip('/')}/{quote(bucket)}"  # path style, as the clients address it
    head = signed_request(url, method="HEAD", keys=AuthKeys(endpoint.access_key,
                                                            endpoint.secret_key),
                          region=endpoint.region, service="s3")
    try:
        with urlopen(head, timeout=timeout) as answer:
            return int(answer.status) == 200
    except (URLError, OSError, ValueError):
        return False


def ensure_bucket(client: Any, bucket: str) -> bool:
    """Create the bucket if it is missing; True if it was created."""
    if bucket_exists(client, bucket):
        return False
    client.create_bucket(Bucket=bucket)
    return True


# The blob store's client: no retries of its own (the engine's layer retries), and a streamed
# body is sent as it is read, not read first to hash it.
BLOB_CLIENT_CONFIG: dict[str, Any] = {
    "retries": {"total_max_attempts": 1},
    "s3": {"addressing_style": "path", "payload_signing_enabled": False},
}


@functools.lru_cache(maxsize=64)
def _blob_store(endpoint: S3Endpoint) -> BlobStore:
    from emulator.storage.boto_store import BotoBlobStore  # s3transfer: the endpoint's only

    return BotoBlobStore(endpoint.client(**BLOB_CLIENT_CONFIG),
                         whole_object=endpoint.whole_object)
