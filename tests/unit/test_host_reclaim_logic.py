"""Per-host reclaims, the pure parts: the trigger option, the peers' reactions, the check that
the named host exists."""

from __future__ import annotations

import pytest

from emulator.errors import PlanError, ValidationException
from emulator.faults.plan import parse_plan, parse_trigger
from emulator.jobs.reclaim import check_plan_hosts, reaction, target_delay
from emulator.jobs.settings import JobSettings
from emulator.jobs.spec import JobSpec, parse_spec


def test_host_and_peers_options_parse_and_travel_in_a_tag() -> None:
    trigger = parse_trigger("checkpoint=2/hard/host=algo-2/peers=10s")
    assert (trigger.host, trigger.peers, trigger.hard) == ("algo-2", 10.0, True)
    assert parse_plan(parse_plan([trigger.spec]).to_tag_value()).triggers == (trigger,)
    assert target_delay(trigger) == 10.0 and target_delay(parse_trigger("after=1s")) == 5.0
    for bad in ("after=1s/host=node-2", "after=1s/host=algo-0", "after=1s/peers=soon"):
        with pytest.raises(PlanError):
            parse_trigger(bad)


def test_what_a_peer_did() -> None:
    assert reaction(1, False, 100.4, 100.0, 103.0, "algo-2") == \
        "exited 1 by itself 0.4s after algo-2 was gone"
    assert reaction(143, False, 103.2, 100.0, 103.0, "algo-2") == \
        "ran on until stopped: SIGTERM, exited 143"
    assert reaction(137, True, 108.1, 100.0, 103.0, "algo-2").startswith(
        "ran on until stopped: SIGKILLed")


def test_a_host_outside_the_cluster_is_refused() -> None:
    def spec(count: int, plan: str) -> JobSpec:
        return parse_spec({"TrainingJobName": "j", "ResourceConfig": {"InstanceCount": count}},
                          JobSettings(plan=parse_plan(plan)))

    check_plan_hosts(spec(2, "after=1s/host=algo-2 after=1s"))
    with pytest.raises(ValidationException, match="names algo-3, but the job's hosts are "
                                                  "algo-1, algo-2"):
        check_plan_hosts(spec(2, "after=1s/host=algo-3"))
