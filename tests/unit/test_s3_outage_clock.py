"""The outage clock: training time, real time while an outage is on, never backwards."""

from __future__ import annotations

from emulator.faults.s3_clock import OutageClock
from emulator.faults.s3_spec import parse_s3_faults


def test_an_outage_runs_on_in_real_time_while_training_is_paused() -> None:
    training, wall = [0.0], [100.0]
    clock = OutageClock(parse_s3_faults("outage=30s+10s"), lambda: training[0],
                        lambda: wall[0])
    assert clock() == 0.0
    training[0], wall[0] = 20.0, 120.0
    assert clock() == 20.0  # before the outage: training time only
    wall[0] = 200.0
    assert clock() == 20.0  # no training, no outage: time stands still
    training[0], wall[0] = 32.0, 212.0
    assert clock() == 32.0  # the outage began
    wall[0] = 216.0  # the container stopped at 32 s (an interruption's flush)
    assert clock() == 36.0
    wall[0] = 300.0
    assert clock() == 40.0  # the outage is over; not past its end
    wall[0] = 400.0
    assert clock() == 40.0
    training[0] = 35.0  # the next attempt trains: the clock waits for it to catch up
    assert clock() == 40.0
    training[0] = 41.5
    assert clock() == 41.5


def test_no_outage_is_training_time() -> None:
    training = [0.0]
    clock = OutageClock(parse_s3_faults("errors=10%"), lambda: training[0], lambda: 0.0)
    for training[0] in (0.0, 5.0, 7.5):
        assert clock() == training[0]
