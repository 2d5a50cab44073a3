"""Container-scope S3 faults on the wire, without containers: real boto3 through the real gateway
forwarder (run on the host, on loopback) into a real endpoint's unix socket.

The forwarder starts each connection with its PROXY line, so the endpoint sees these requests
as a job network's, from the gateway address 127.0.0.1; the same requests sent to the
endpoint's port (the host's own traffic) must never be touched, even though they come from
127.0.0.1 too. (tests/integration/test_container_s3_faults.py runs it all in Docker.)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.faults.s3_injector import S3FaultInjector
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.faults.s3_spec import parse_s3_faults
from emulator.runtime import gateway_forwarder
from emulator.server.endpoint import EndpointServer
from tests.support import figures

GATEWAY = "127.0.0.1"  # the forwarder's address, as the endpoint sees it in the PROXY line
NETWORK = f"{GATEWAY}/8"  # and "its network": the forwarder's clients come from 127.0.0.1
TALLY = figures.Tally("s3-faults-container")  # the README's Reliability figure
INJECTORS: list[S3FaultInjector] = []  # every one routed, for the tally
INJECTED = {"SlowDown": "Please reduce your request rate.",
            "InternalError": "We encountered an internal error. Please try again."}


@pytest.fixture(scope="module")
def endpoint(docker_client: object) -> Iterator[EndpointServer]:
    with EndpointServer(port=0, ephemeral=True) as server:
        yield server


@pytest.fixture(scope="module")
def forwarder_url(endpoint: EndpointServer) -> Iterator[str]:
    assert endpoint._socket_dir is not None
    process = subprocess.Popen(
        [sys.executable, gateway_forwarder.__file__, "0",
         str(Path(endpoint._socket_dir) / "endpoint.sock"), GATEWAY],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()  # "smemu gateway: 127.0.0.1:PORT -> SOCKET"
        assert ready.startswith("smemu gateway: "), ready
        yield "http://" + ready.split()[2]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture()
def routes(endpoint: EndpointServer) -> ContainerFaultRoutes:
    assert endpoint.service is not None
    return endpoint.service.ctx.container_s3_faults


@pytest.fixture()
def bucket(endpoint: EndpointServer) -> str:
    name = f"faults-{uuid.uuid4().hex[:10]}"
    client(endpoint.url).create_bucket(Bucket=name)
    return name


def client(url: str, attempts: int = 1, mode: str = "standard") -> Any:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="smemu", aws_secret_access_key="smemu",
                        config=Config(retries={"mode": mode, "total_max_attempts": attempts},
                                      connect_timeout=10, read_timeout=120))


def routed(routes: ContainerFaultRoutes, spec: str, clock: list[float] | None = None
           ) -> S3FaultInjector:
    now = clock if clock is not None else [0.0]
    injector = S3FaultInjector(parse_s3_faults(spec), lambda: now[0])
    routes.route(NETWORK, injector)
    INJECTORS.append(injector)
    return injector


def test_every_request_fails_in_s3s_format_and_changes_nothing(
        endpoint: EndpointServer, forwarder_url: str, routes: ContainerFaultRoutes,
        bucket: str) -> None:
    injector = routed(routes, "errors=100% seed=3 scope=container")
    try:
        container = client(forwarder_url)
        seen = {}
        for i in range(12):
            with pytest.raises(ClientError) as raised:
                container.put_object(Bucket=bucket, Key=f"k{i}", Body=b"data")
            error = raised.value.response["Error"]
            seen[error["Code"]] = error["Message"]
            status = raised.value.response["ResponseMetadata"]["HTTPStatusCode"]
            assert status == (503 if error["Code"] == "SlowDown" else 500)
            assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-id-2"]
        assert seen == INJECTED  # both kinds drawn, in S3's own words
        with pytest.raises(ClientError) as raised:
            container.head_object(Bucket=bucket, Key="k0")  # HEAD: the status, no body
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
    finally:
        routes.unroute(NETWORK, injector)
    # Nothing an error answered reached S3; the host's requests were never faulted.
    assert client(endpoint.url).list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    counts = injector.counts()
    assert counts.requests == 13 and sum(counts.errors.values()) == 13


def test_standard_retries_get_through_and_every_injected_error_was_a_retry(
        endpoint: EndpointServer, forwarder_url: str, routes: ContainerFaultRoutes,
        bucket: str) -> None:
    injector = routed(routes, "errors=40% seed=11 scope=container")
    retried = 0
    try:
        container = client(forwarder_url, attempts=20)
        for i in range(15):
            body = f"object {i}".encode() * 100
            put = container.put_object(Bucket=bucket, Key=f"k{i}", Body=body)
            got = container.get_object(Bucket=bucket, Key=f"k{i}")
            assert got["Body"].read() == body
            retried += put["ResponseMetadata"]["RetryAttempts"]
            retried += got["ResponseMetadata"]["RetryAttempts"]
    finally:
        routes.unroute(NETWORK, injector)
    counts = injector.counts()
    assert retried > 0
    assert sum(counts.errors.values()) == retried  # each injected error cost one retry
    assert counts.requests == 30 + retried
    assert counts.retries == retried  # boto3's retries, as its headers announce them
    assert counts.backoff_seconds > 0  # what it waited before them


def test_the_hosts_requests_and_other_networks_are_never_faulted(
        endpoint: EndpointServer, forwarder_url: str, routes: ContainerFaultRoutes,
        bucket: str) -> None:
    injector = routed(routes, "errors=100% scope=all")
    other = S3FaultInjector(parse_s3_faults("errors=100% scope=container"), lambda: 0.0)
    try:
        host = client(endpoint.url)  # from 127.0.0.1 too, but through the port
        for i in range(20):
            host.put_object(Bucket=bucket, Key=f"h{i}", Body=b"host")
            assert host.get_object(Bucket=bucket, Key=f"h{i}")["Body"].read() == b"host"
        assert injector.counts().requests == 0
        # Another job's network (another gateway address) with faults of its own.
        routes.unroute(NETWORK, injector)
        routes.route("172.31.255.2/24", other)
        container = client(forwarder_url)
        for i in range(10):
            container.put_object(Bucket=bucket, Key=f"c{i}", Body=b"clean")
        assert other.counts().requests == 0
    finally:
        routes.unroute(NETWORK, injector)
        routes.unroute("172.31.255.2/24", other)


def test_an_outage_refuses_everything_until_it_ends(
        endpoint: EndpointServer, forwarder_url: str, routes: ContainerFaultRoutes,
        bucket: str) -> None:
    clock = [0.0]  # the job's training seconds, moved by hand
    injector = routed(routes, "outage=5s+10s scope=container", clock)
    try:
        container = client(forwarder_url)
        container.put_object(Bucket=bucket, Key="before", Body=b"1")
        clock[0] = 5.0
        for _ in range(3):
            with pytest.raises(ClientError) as raised:
                container.get_object(Bucket=bucket, Key="before")
            assert raised.value.response["Error"]["Code"] == "ServiceUnavailable"
            assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        clock[0] = 15.0
        assert container.get_object(Bucket=bucket, Key="before")["Body"].read() == b"1"
    finally:
        routes.unroute(NETWORK, injector)
    counts = injector.counts()
    assert counts.outage_refusals == 3 and counts.requests == 5 and not counts.errors


def test_latency_and_bandwidth_delay_each_request_by_its_body(
        endpoint: EndpointServer, forwarder_url: str, routes: ContainerFaultRoutes,
        bucket: str) -> None:
    body = b"x" * 200_000
    client(endpoint.url).put_object(Bucket=bucket, Key="big", Body=body)
    injector = routed(routes, "latency=50ms bandwidth=2MB/s scope=container")
    try:
        container = client(forwarder_url)
        assert container.get_object(Bucket=bucket, Key="big")["Body"].read() == body
        container.put_object(Bucket=bucket, Key="copy", Body=body)
        container.head_object(Bucket=bucket, Key="copy")
    finally:
        routes.unroute(NETWORK, injector)
    # The download's and the upload's 200 kB at 2 MB/s, and 50 ms on each of three requests.
    assert injector.counts().delay_seconds == pytest.approx(0.1 + 0.1 + 3 * 0.05)


def test_a_connection_without_the_proxy_line_is_closed_unanswered(
        endpoint: EndpointServer) -> None:
    assert endpoint._socket_dir is not None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(Path(endpoint._socket_dir) / "endpoint.sock"))
        sock.sendall(b"GET /_smemu/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536) == b""


def test_a_request_from_outside_the_gateways_network_gets_no_faults(
        endpoint: EndpointServer, routes: ContainerFaultRoutes, bucket: str) -> None:
    """As from a container that crafted packets for the gateway's address on another job's
    network: its source address is not in that network."""
    injector = routed(routes, "errors=100% scope=container")
    assert endpoint._socket_dir is not None
    try:
        for source, faulted in (("10.9.0.5", False), ("127.0.0.9", True)):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(30)
                sock.connect(str(Path(endpoint._socket_dir) / "endpoint.sock"))
                sock.sendall(f"PROXY TCP4 {source} {GATEWAY} 40000 4590\r\n"
                             f"GET /{bucket} HTTP/1.1\r\nHost: x\r\n"
                             "Connection: close\r\n\r\n".encode())
                answer = _read_until_closed(sock)
            assert answer.startswith(b"HTTP/1.1 5" if faulted else b"HTTP/1.1 200"), answer
    finally:
        routes.unroute(NETWORK, injector)
    assert injector.counts().requests == 1


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    for injector in INJECTORS:
        counts = injector.counts()
        TALLY.add(requests=counts.requests, outage_refusals=counts.outage_refusals,
                  delayed_ms=round(counts.delay_seconds * 1000),
                  **{f"error_{code}": n for code, n in counts.errors.items()})
    TALLY.check(request)
