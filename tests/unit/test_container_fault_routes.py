"""The container scope's plumbing, pure: the forwarder's PROXY line read back, the routes from a
gateway address to one job's injector, the clients' retries, and which traffic a scope faults
(and so which blob store a job's restores and mirrors get)."""

from __future__ import annotations

from typing import cast

import pytest

from emulator.api.sdk_retries import RetryWatch, sdk_attempt
from emulator.faults.s3_injector import S3FaultInjector
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.faults.s3_spec import parse_s3_faults
from emulator.jobs.clock import ManualClock
from emulator.jobs.job_s3 import JobS3
from emulator.jobs.model import TrainingJob
from emulator.jobs.settings import JobSettings
from emulator.jobs.spec import parse_spec
from emulator.runtime.gateway_forwarder import proxy_line
from emulator.server.gateway_origin import GatewayOrigin, parse_proxy_line
from emulator.storage.blobstore import BlobStore
from emulator.storage.s3 import S3Endpoint


def injector() -> S3FaultInjector:
    return S3FaultInjector(parse_s3_faults("errors=10% scope=container"), lambda: 0.0)


def test_the_forwarders_proxy_line_reads_back_as_its_origin() -> None:
    line = proxy_line(("172.18.0.3", 51234), ("172.18.0.2", 4590))
    assert line == b"PROXY TCP4 172.18.0.3 172.18.0.2 51234 4590\r\n"
    assert parse_proxy_line(line) == GatewayOrigin(container="172.18.0.3", gateway="172.18.0.2")
    six = proxy_line(("fd00::3", 1), ("fd00::2", 4590))
    assert parse_proxy_line(six) == GatewayOrigin("fd00::3", "fd00::2")


@pytest.mark.parametrize("line", [
    b"GET / HTTP/1.1\r\n",  # HTTP first: not the forwarder
    b"PROXY TCP4 172.18.0.3 172.18.0.2 51234 4590\n",  # no CRLF
    b"PROXY UNKNOWN\r\n",
    b"PROXY TCP4 172.18.0.3 172.18.0.2 51234\r\n",
    b"PROXY TCP4 172.18.0.300 172.18.0.2 51234 4590\r\n",
    b"PROXY TCP4 172.18.0.3 smemu-endpoint 51234 4590\r\n",
    b"PROXY TCP4 172.18.0.3 172.18.0.2 51234 70000\r\n",
    b"PROXY TCP4 172.18.0.3 172.18.0.2 51234 4590" + b" " * 80 + b"\r\n",  # too long
    b"",
])
def test_anything_else_is_no_origin(line: bytes) -> None:
    assert parse_proxy_line(line) is None


def test_a_route_holds_for_its_networks_containers_only() -> None:
    routes, mine = ContainerFaultRoutes(), injector()
    routes.route("172.18.0.2/16", mine)
    assert routes.injector_for("172.18.0.2", "172.18.0.3") is mine
    assert routes.injector_for("172.18.0.2", "172.18.255.254") is mine
    assert routes.injector_for("172.18.0.2", "172.19.0.3") is None  # from another network
    assert routes.injector_for("172.19.0.2", "172.19.0.3") is None  # another gateway address
    assert routes.injector_for("172.18.0.2", "not an address") is None


def test_a_late_unroute_leaves_a_newer_jobs_route_alone() -> None:
    routes, old, new = ContainerFaultRoutes(), injector(), injector()
    routes.route("172.18.0.2/16", old)
    routes.route("172.18.0.2/16", new)  # the address went to the next job's network
    routes.unroute("172.18.0.2/16", old)
    assert routes.injector_for("172.18.0.2", "172.18.0.3") is new
    routes.unroute("172.18.0.2/16", new)
    assert routes.injector_for("172.18.0.2", "172.18.0.3") is None


def test_a_retry_is_what_the_sdk_says_and_its_wait_runs_from_the_injected_error() -> None:
    now = [100.0]
    watch = RetryWatch(lambda: now[0])
    first = {"HTTP_AMZ_SDK_INVOCATION_ID": "call-1", "HTTP_AMZ_SDK_REQUEST": "attempt=1; max=5"}
    again = {**first, "HTTP_AMZ_SDK_REQUEST": "attempt=2; max=5"}
    assert watch.waited_before(first) is None  # a first attempt
    watch.failed(first)
    now[0] = 101.5
    assert watch.waited_before(again) == 1.5
    assert watch.waited_before(again) == 0.0  # a retry after a failure not injected here
    assert watch.waited_before({}) is None  # a client that announces nothing
    assert sdk_attempt({"HTTP_AMZ_SDK_REQUEST": "ttl=20250101T000000Z; attempt=3; max=4"}) == 3
    assert sdk_attempt({"HTTP_AMZ_SDK_REQUEST": "attempt=x"}) == 1
    assert sdk_attempt({"HTTP_AMZ_SDK_REQUEST": "attempt=\u00b2"}) == 1  # a digit to isdigit()


@pytest.mark.parametrize(("scope", "mirror", "container"), [
    ("mirror", True, False), ("container", False, True), ("all", True, True)])
def test_the_scope_says_whose_traffic_meets_the_one_injector(
        scope: str, mirror: bool, container: bool) -> None:
    settings = JobSettings(s3_faults=parse_s3_faults(f"errors=0.5 scope={scope}"))
    job = TrainingJob(parse_spec({"TrainingJobName": "j"}, settings), "arn", 0.0)
    s3 = JobS3(S3Endpoint("http://127.0.0.1:9", "us-east-1"), job, ManualClock())
    try:
        assert s3.injector is not None
        assert (s3.container_injector is s3.injector) is container
        assert (s3.container_injector is None) is not container
        assert (s3.blob_store() is not s3.endpoint.blob_store()) is mirror
        # The mirror's retries count only when its traffic is faulted.
        assert (s3.patience().on_retry is not None) is mirror
    finally:
        s3.close()


@pytest.mark.parametrize(("faults", "local"), [
    ("", True), ("errors=0.5 scope=container", True), ("errors=0.5 scope=mirror", False),
    ("errors=0.5 scope=all", False)])
def test_the_endpoints_own_store_serves_the_job_unless_faults_cover_the_mirror(
        faults: str, local: bool) -> None:
    settings = JobSettings(s3_faults=parse_s3_faults(faults)) if faults else JobSettings()
    job = TrainingJob(parse_spec({"TrainingJobName": "j"}, settings), "arn", 0.0)
    endpoint = S3Endpoint("http://127.0.0.1:9", "us-east-1")
    own = cast(BlobStore, object())  # the endpoint's in-process store (DiskBlobStore)
    s3 = JobS3(endpoint, job, ManualClock(), own)
    try:
        assert (s3.blob_store() is own) is local
        assert s3.blob_store() is not endpoint.blob_store()  # never the plain HTTP one
    finally:
        s3.close()
