"""S3 fault SPECs (parse, render, errors) and the injector's decisions and counts."""

from __future__ import annotations

import re
import threading

import pytest

from emulator.faults.s3_injector import (
    INTERNAL_ERROR,
    OUTAGE,
    SLOW_DOWN,
    S3FaultCounts,
    S3FaultInjector,
)
from emulator.faults.s3_spec import S3FaultSpec, parse_s3_faults, parse_size

MiB = 1024 * 1024


def test_the_issue_example_parses_and_renders_back() -> None:
    spec = parse_s3_faults("errors=20% seed=7 latency=200ms outage=30s+10s "
                           "bandwidth=20MiB/s scope=all")
    assert spec == S3FaultSpec(error_rate=0.2, seed=7, latency=0.2, outages=((30.0, 10.0),),
                               bandwidth=20.0 * MiB, scope="all")
    assert parse_s3_faults(spec.spec) == spec


def test_defaults_outages_repeat_and_fractions() -> None:
    spec = parse_s3_faults("outage=1m+5s outage=2m+1s errors=0.5")
    assert spec.scope == "mirror" and spec.covers("mirror") and not spec.covers("container")
    assert spec.outages == ((60.0, 5.0), (120.0, 1.0)) and spec.error_rate == 0.5
    assert spec.outage_end == 121.0
    assert parse_s3_faults("") == S3FaultSpec() and not S3FaultSpec().injects
    every = S3FaultSpec(scope="all")
    assert every.covers("container") and every.covers("mirror")


@pytest.mark.parametrize(("text", "names"), [
    ("errors=120%", "errors=120%"),
    ("errors=lots", "errors=lots"),
    ("nonsense=1", "nonsense=1"),
    ("latency=fast", "latency=fast"),
    ("outage=30s", "outage=30s"),
    ("outage=30s+0s", "outage=30s+0s"),
    ("bandwidth=quick/s", "bandwidth=quick/s"),
    ("bandwidth=0MiB/s", "bandwidth=0MiB/s"),
    ("scope=everything", "scope=everything"),
    ("seed=-1", "seed=-1"),
    ("errors", "errors"),
    ("seed=1 seed=2", "seed=2"),
])
def test_a_bad_item_is_a_value_error_naming_it(text: str, names: str) -> None:
    with pytest.raises(ValueError, match=re.escape(f"invalid S3 fault {names!r}")):
        parse_s3_faults(text)


def test_sizes() -> None:
    assert parse_size("20MiB") == 20 * MiB and parse_size("1.5KB") == 1500
    assert parse_size("300") == 300 and parse_size("2gib") == 2 * 1024 ** 3
    with pytest.raises(ValueError, match="invalid size"):
        parse_size("many")


def test_errors_are_drawn_at_the_rate_and_repeat_with_the_seed() -> None:
    spec = S3FaultSpec(error_rate=0.2, seed=7)
    first = [S3FaultInjector(spec, lambda: 0.0).decide().error for _ in range(1)]
    injector = S3FaultInjector(spec, lambda: 0.0)
    decisions = [injector.decide().error for _ in range(2000)]
    again = S3FaultInjector(spec, lambda: 0.0)
    assert [again.decide().error for _ in range(2000)] == decisions
    assert first == decisions[:1]
    failed = [e for e in decisions if e is not None]
    assert 300 < len(failed) < 500  # 400 expected; the bounds are 5 standard deviations
    assert {e.code for e in failed} == {SLOW_DOWN.code, INTERNAL_ERROR.code}
    counts = injector.counts()
    assert counts.requests == 2000 and counts.faults == len(failed)
    assert counts.errors == {code: sum(e.code == code for e in failed)
                             for code in ("SlowDown", "InternalError")}
    other = S3FaultInjector(S3FaultSpec(error_rate=0.2, seed=8), lambda: 0.0)
    assert [other.decide().error for _ in range(2000)] != decisions
    never = S3FaultInjector(S3FaultSpec(), lambda: 0.0)
    assert all(never.decide(MiB) == never.decide() for _ in range(100))


def test_every_request_fails_during_an_outage_of_training_time() -> None:
    now = [0.0]
    injector = S3FaultInjector(parse_s3_faults("outage=30s+10s latency=10ms"), lambda: now[0])
    assert injector.decide().error is None
    for now[0] in (30.0, 35.0, 39.99):
        assert injector.in_outage() and injector.decide(MiB).error is OUTAGE
    now[0] = 40.0
    assert not injector.in_outage() and injector.decide().error is None
    counts = injector.counts()
    assert counts.outage_refusals == 3 and counts.errors == {} and counts.requests == 5
    assert counts.delay_seconds == pytest.approx(0.05)
    assert OUTAGE.status == 503 and SLOW_DOWN.status == 503 and INTERNAL_ERROR.status == 500


def test_delay_is_latency_plus_the_body_at_the_bandwidth() -> None:
    injector = S3FaultInjector(parse_s3_faults("latency=200ms bandwidth=10MiB/s"), lambda: 0.0)
    assert injector.decide(0).delay == pytest.approx(0.2)
    assert injector.decide(5 * MiB).delay == pytest.approx(0.7)
    injector.note_retry(0.25)
    injector.note_retry(0.5)
    counts = injector.counts()
    assert counts.delay_seconds == pytest.approx(0.9)
    assert counts.retries == 2 and counts.backoff_seconds == pytest.approx(0.75)
    assert S3FaultCounts.from_dict(counts.to_dict()) == S3FaultCounts(
        2, {}, 0, 0.9, 2, 0.75)


def test_counts_are_exact_under_threads() -> None:
    injector = S3FaultInjector(S3FaultSpec(error_rate=0.5, latency=0.001), lambda: 0.0)

    def hammer() -> None:
        for _ in range(500):
            injector.decide(10)
            injector.note_retry(0.0)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = injector.counts()
    assert counts.requests == 4000 and counts.retries == 4000
    assert counts.delay_seconds == pytest.approx(4.0)
    assert 1700 < counts.faults < 2300
