"""Which trigger is armed for the current attempt, and whether an observation fires it.

Observations come from the runner (training time, checkpoint uploads, checkpoint writes, log
lines); this module counts them and asks the armed trigger's kind whether they fire it. Pure: no
threads, no clock of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from emulator.faults.kinds import Wait
from emulator.faults.plan import InterruptionPlan, Trigger
from emulator.faults.trigger import Elapsed


@dataclass
class PlanCursor:
    """Walks an interruption plan across attempts."""

    plan: InterruptionPlan
    index: int = 0
    EMPTY = InterruptionPlan()
    fired: list[Trigger] = field(default_factory=list)

    def take_waits(self) -> list[Wait]:
        """The `wait` triggers that precede the next attempt (consumed)."""
        waits = []
        triggers = self.plan.triggers
        while self.index < len(triggers) and isinstance(wait := triggers[self.index], Wait):
            waits.append(wait)
            self.index += 1
        return waits

    def armed(self) -> ArmedTrigger | None:
        if self.index >= len(self.plan.triggers):
            return None
        trigger = self.plan.triggers[self.index]
        return None if isinstance(trigger, Wait) else ArmedTrigger(trigger, self.index)

    def consume(self) -> Trigger:
        trigger = self.plan.triggers[self.index]
        self.fired.append(trigger)
        self.index += 1
        return trigger

    @property
    def unfired(self) -> list[str]:
        return [t.spec for t in self.plan.triggers[self.index:]]


@dataclass
class ArmedTrigger:
    trigger: Trigger
    index: int
    uploads: int = 0
    writes: int = 0

    def __post_init__(self) -> None:
        # Counted from every host's mirror and recorder threads at once.
        self._count_lock = threading.Lock()
        self.random_delay = self.trigger.random_delay(self.index)

    @property
    def at_start(self) -> bool:
        return self.trigger.fires_at_start

    def on_time(self, training_seconds: float, job_seconds: float) -> bool:
        return self.trigger.fires_on_time(Elapsed(training_seconds, job_seconds, self.random_delay))

    def on_upload(self) -> bool:
        with self._count_lock:
            self.uploads += 1
            uploads = self.uploads
        return self.trigger.fires_on_upload(uploads)

    def on_write_started(self) -> bool:
        with self._count_lock:
            self.writes += 1
            writes = self.writes
        return self.trigger.fires_on_write_started(writes)

    def on_log(self, line: str) -> bool:
        return self.trigger.fires_on_log(line)
