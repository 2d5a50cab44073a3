"""The endpoint's pool of job networks with the gateway already on them, against the scripted
fake engine: which jobs take a pooled network, what goes back to the pool, and its bounds."""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulator import contract
from emulator.errors import AddressPoolsExhausted
from emulator.faults.s3_routes import ContainerFaultRoutes
from emulator.jobs.clock import SystemClock
from emulator.jobs.model import TrainingJob
from emulator.jobs.settings import settings_from_tags
from emulator.runtime import labels as L
from emulator.runtime.network_pool import Gateway, NetworkPool, PooledNetwork
from tests.support.fake_engine import FakeEngine, Script
from tests.support.fake_runs import run_to_end, training_request
from tests.unit._s3server import MotoS3

BUCKET = "network-pool"
GATEWAY = Gateway("smemu-t-gateway", "smemu-base:latest", Path("/tmp/none.sock"),
                  L.server_labels("t"))


@pytest.fixture(scope="module")
def moto(s3: MotoS3) -> MotoS3:
    s3.client().create_bucket(Bucket=BUCKET)
    return s3


class CappedEngine(FakeEngine):
    """Docker with room for `room` networks (its default address pools)."""

    room: int = 1000

    def create_network(self, name: str, labels: dict[str, str],
                       pinned: bool = False) -> tuple[str, str | None]:
        if len(self.networks) >= self.room:
            raise AddressPoolsExhausted("Docker has no free address pool left")
        return super().create_network(name, labels, pinned)


def engine_with_gateway(**scripts: Script) -> CappedEngine:
    return CappedEngine(scripts or {"algo-1": Script(exit_after=0.01)}, SystemClock(),
                        images={"fake:latest", GATEWAY.image}, gateway=True)


def pool_of(engine: FakeEngine, **sizes: Any) -> NetworkPool:
    return NetworkPool(engine, "t", GATEWAY, **{"spares": 0, **sizes})


def two_host_engine_and_a_pool_with_one_idle() -> tuple[CappedEngine, NetworkPool, Any]:
    engine = engine_with_gateway(**{"algo-1": Script(exit_after=0.01),
                                    "algo-2": Script(exit_after=0.01)})
    pool = pool_of(engine)
    idle = pool.take()
    assert idle is not None
    pool.give_back(idle)
    return engine, pool, idle


@dataclass
class Run:
    job: TrainingJob
    networks: list[str | None]  # its containers' networks


def run(moto: MotoS3, tmp_path: Path, engine: FakeEngine, pool: NetworkPool | None, *,
        hosts: int = 1, faults: str | None = None,
        routes: ContainerFaultRoutes | None = None, **extra: Any) -> Run:
    name = f"job-{time.time_ns()}"
    request: dict[str, Any] = {**training_request(name, BUCKET, hosts=hosts), **extra}
    if faults:
        request["Tags"] = [{"Key": "smemu:s3-faults", "Value": faults}]
    before = len(engine.handles)
    job = run_to_end(request, settings_from_tags(request.get("Tags")), engine,
                     SystemClock(), s3_url=moto.endpoint, workdir=tmp_path / "work",
                     network_pool=pool, gateway_socket=GATEWAY.socket,
                     container_s3_faults=routes)
    assert job.status == contract.JobStatus.COMPLETED, job.failure_reason
    return Run(job, [h.spec.network for h in engine.handles[before:]])


def test_a_second_single_host_job_takes_the_first_ones_network(
        moto: MotoS3, tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = NetworkPool(engine, "t", GATEWAY)  # as the endpoint makes it
    first = run(moto, tmp_path, engine, pool)
    [network] = first.networks
    assert network is not None
    assert engine.made("create_network") == engine.made("attach_gateway") == [network]
    # Given back, not taken apart: the gateway alone on it, labelled as the endpoint's.
    assert pool.idle == [network] and set(engine.network_members(network)) == {GATEWAY.name}
    assert engine.network_labels[network] == L.pool_labels("t")
    assert L.JOB not in engine.network_labels[network]
    assert L.PID in engine.network_labels[network]  # `smemu cleanup` knows its owner
    # No job's network can have its name (smemu-t-<job name>): Docker would refuse one.
    assert not re.fullmatch(r"smemu-t-[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", network)
    calls = len(engine.calls)
    second = run(moto, tmp_path, engine, pool)
    assert second.networks == [network]
    assert [call for call, _ in engine.calls[calls:]] == []  # no create, attach, detach, remove
    assert pool.idle == [network]


def test_a_network_with_a_leftover_container_is_not_reused(moto: MotoS3, tmp_path: Path) -> None:
    engine = engine_with_gateway(**{"algo-1": Script(exit_after=0.01, stays_on_network=True)})
    pool = pool_of(engine)
    [first] = run(moto, tmp_path, engine, pool).networks
    assert first is not None
    assert pool.idle == []  # a container of the job is still on it: not lent again
    assert ("detach_gateway", first) in engine.calls and ("remove_network", first) in engine.calls
    engine.scripts["algo-1"] = Script(exit_after=0.01)
    [second] = run(moto, tmp_path, engine, pool).networks
    assert second is not None and second != first
    assert engine.made("create_network") == [first, second]


def test_a_network_the_gateway_left_is_not_lent(moto: MotoS3, tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = pool_of(engine)
    taken = pool.take()
    assert taken is not None
    pool.give_back(taken)
    engine.leave(taken.name, GATEWAY.name)  # e.g. the gateway died and was started afresh
    again = pool.take()
    assert again is not None and again.name != taken.name
    assert taken.name not in engine.networks


def test_the_idle_networks_are_bounded(tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = pool_of(engine, keep=2)
    taken = [pool.take() for _ in range(4)]
    for network in taken:
        assert network is not None
        pool.give_back(network)
    assert len(pool.idle) == 2
    assert len(engine.networks) == 2 and len(engine.made("remove_network")) == 2


def test_a_spare_is_made_ahead_only_while_jobs_overlap(tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = NetworkPool(engine, "t", GATEWAY, spares=1, keep=2)
    first = pool.take()  # alone: jobs one after another need no second network
    assert first is not None
    time.sleep(0.2)  # what a spare made ahead would have needed (instant on the fake)
    assert pool.idle == [] and engine.made("create_network") == [first.name]
    second = pool.take()  # beside the first: one is made ahead for the next
    assert second is not None
    wait_until(lambda: len(pool.idle) == 1)
    third = pool.take()  # the spare: nothing made on demand
    assert third is not None and third.name in engine.made("create_network")
    wait_until(lambda: len(pool.idle) == 1)  # and the next made ahead
    time.sleep(0.1)
    assert len(engine.made("create_network")) == 4  # never more than one spare
    for network in (first, second, third):
        pool.give_back(network)
    assert len(pool.idle) == 2 and len(engine.networks) == 2


def test_no_spare_is_made_once_docker_ran_out_of_address_pools(tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = NetworkPool(engine, "t", GATEWAY, spares=1, keep=2)
    engine.room = 2
    taken = [pool.take(), pool.take()]  # the second beside the first: one would be made ahead
    assert None not in taken
    time.sleep(0.2)  # what a spare made ahead would have needed (instant on the fake)
    assert pool.idle == [] and len(engine.made("create_network")) == 2
    engine.room = 10
    pool.take()
    time.sleep(0.2)
    assert pool.idle == []  # still starved: it leaves the address pools to the jobs


def test_a_job_that_finds_no_address_pool_gets_the_idle_networks_one(
        moto: MotoS3, tmp_path: Path) -> None:
    engine, pool, idle = two_host_engine_and_a_pool_with_one_idle()
    engine.room = 1  # the pool's idle network holds the last address pool
    done = run(moto, tmp_path, engine, pool, hosts=2)
    assert idle.name not in engine.networks and pool.idle == []
    assert done.networks[0] is not None and done.networks[0] != idle.name


def test_multi_host_and_isolated_jobs_get_networks_of_their_own(
        moto: MotoS3, tmp_path: Path) -> None:
    engine, pool, idle = two_host_engine_and_a_pool_with_one_idle()
    calls = len(engine.calls)
    multi = run(moto, tmp_path, engine, pool, hosts=2)
    del engine.scripts["algo-2"]
    isolated = run(moto, tmp_path, engine, pool, EnableNetworkIsolation=True)
    for each in (multi, isolated):
        [network] = set(each.networks)
        assert network not in (None, idle.name)
        assert engine.network_labels[network][L.JOB] == each.job.name
        assert network not in engine.networks and network not in pool.idle
    assert pool.idle == [idle.name]
    # The multi-host job's network has the gateway (S3 from inside); the isolated one's not.
    assert engine.made("attach_gateway")[1:] == [multi.networks[0]]
    assert len(engine.calls) - calls == 2 + 1 + 1 + 2  # created, attached, detached, removed


def test_the_fault_route_is_gone_before_the_network_goes_back(
        moto: MotoS3, tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = pool_of(engine)
    routes = ContainerFaultRoutes()
    taken: list[PooledNetwork] = []

    def routed() -> bool:
        """Whether a container's S3 call on the job's network would meet the job's faults."""
        gateway = ipaddress.ip_interface(taken[0].gateway_address)
        container = str(gateway.network.network_address + 9)
        return routes.injector_for(str(gateway.ip), container) is not None

    take, give_back = pool.take, pool.give_back
    seen: dict[str, bool] = {}

    def recorded_take() -> PooledNetwork | None:
        network = take()
        assert network is not None
        taken.append(network)
        return network

    def checked_give_back(network: PooledNetwork) -> None:
        seen["at give back"] = routed()
        give_back(network)

    pool.take = recorded_take  # type: ignore[method-assign]
    pool.give_back = checked_give_back  # type: ignore[method-assign]
    engine.scripts["algo-1"] = Script(
        exit_after=0.01, before_exit=lambda _: seen.setdefault("while running", routed()))
    run(moto, tmp_path, engine, pool, faults="errors=10% scope=container", routes=routes)
    assert seen == {"while running": True, "at give back": False}


def test_closing_removes_the_idle_and_keeps_none_given_back_after(tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = NetworkPool(engine, "t", GATEWAY, spares=1, keep=2)
    first, second = pool.take(), pool.take()
    assert first is not None and second is not None
    pool.give_back(first)
    pool.close()
    assert pool.idle == [] and first.name not in engine.networks
    pool.give_back(second)
    assert pool.idle == [] and engine.networks == set()


def test_idle_networks_are_removed_after_a_while(tmp_path: Path) -> None:
    engine = engine_with_gateway()
    pool = pool_of(engine, idle_seconds=0.05)
    taken = pool.take()
    assert taken is not None
    pool.give_back(taken)
    wait_until(lambda: not engine.networks)
    assert pool.idle == []


def wait_until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.01)


def test_without_the_gateway_image_a_job_gets_a_network_of_its_own(
        moto: MotoS3, tmp_path: Path) -> None:
    engine = engine_with_gateway()
    engine.images.discard(GATEWAY.image)
    pool = pool_of(engine)
    done = run(moto, tmp_path, engine, pool)
    [network] = done.networks
    assert network == f"smemu-t-{done.job.name}"  # as before the pool: the job's, then gone
    assert engine.made("attach_gateway") == [] and network not in engine.networks
    assert pool.idle == []
