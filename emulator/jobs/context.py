"""What every job of one endpoint process shares: the engine, the S3 endpoints, the work dir."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.jobs.host_paths import HostPaths
from emulator.runtime.network_pool import NetworkPool
from emulator.runtime.protocol import Engine
from emulator.storage.blobstore import BlobStore
from emulator.storage.s3 import S3Endpoint


@dataclass(frozen=True)
class RunnerContext:
    engine: Engine
    s3: S3Endpoint  # checkpoints, channels, artifacts
    logs: S3Endpoint  # CloudWatch Logs and metrics: the endpoint itself, with its keys
    workdir: Path
    server_id: str
    region: str = contract.DEFAULT_REGION
    gateway_socket: Path | None = None  # the endpoint's unix socket, for the S3 gateway
    gateway_image: str = "smemu-base:latest"
    # Bare networks with the gateway on them, lent to single-host jobs (None: each job makes
    # its own).
    network_pool: NetworkPool | None = None
    checkpoint_versioning: bool = False  # turn S3 versioning on for checkpoint buckets
    # Jobs whose S3 faults cover their containers' calls, by the gateway's address on their
    # network; the endpoint's S3 reads it (emulator.api.container_s3_faults).
    container_s3_faults: ContainerFaultRoutes = field(default_factory=ContainerFaultRoutes)
    # The host directories a request may name (file:// channels, smemu:code-dir): --allow-path
    host_paths: HostPaths = field(default_factory=HostPaths)
    # Whether `s3` has a bucket, asked of the embedded S3 in this process (no HTTP request to
    # itself); None: a HeadBucket request.
    bucket_exists: Callable[[str], bool] | None = None
    # The jobs' checkpoint traffic to `s3` that need not go over HTTP to this process (the
    # embedded disk S3, read in it); None: `s3.blob_store()`. Faults on it go over HTTP still.
    blob_store: BlobStore | None = None

    def cloudwatch_client(self) -> Any:
        """CloudWatch on the endpoint itself, for MetricDefinitions values: quick to give up
        (a timer thread calls it, and the job's end does under the job's lock)."""
        return self.logs.client("cloudwatch", retries={"max_attempts": 2},
                                connect_timeout=2, read_timeout=5)
