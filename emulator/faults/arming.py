"""Which trigger is armed for the current attempt, and whether an observation fires it.

Observations come from the runner (training time, checkpoint uploads, checkpoint writes, log
lines); this module only decides. Pure: no threads, no clock of its own.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from emulator.faults.plan import InterruptionPlan, Trigger


@dataclass
class PlanCursor:
    """Walks an interruption plan across attempts."""

    plan: InterruptionPlan
    index: int = 0
    EMPTY = InterruptionPlan()
    fired: list[Trigger] = field(default_factory=list)

    def take_waits(self) -> list[Trigger]:
        """The `wait` triggers that precede the next attempt (consumed)."""
        waits = []
        triggers = self.plan.triggers
        while self.index < len(triggers) and not triggers[self.index].interrupts:
            waits.append(triggers[self.index])
            self.index += 1
        return waits

    def armed(self) -> ArmedTrigger | None:
        if self.index >= len(self.plan.triggers):
            return None
        trigger = self.plan.triggers[self.index]
        return ArmedTrigger(trigger, self.index) if trigger.interrupts else None

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
        self._regex = re.compile(self.trigger.pattern) if self.trigger.kind == "log" else None
        self.random_delay = self.trigger.random_delay(self.index) \
            if self.trigger.kind == "random" else 0.0

    @property
    def at_start(self) -> bool:
        return self.trigger.kind == "start"

    def on_time(self, training_seconds: float, job_seconds: float) -> bool:
        kind = self.trigger.kind
        if kind == "after":
            return training_seconds >= self.trigger.seconds
        if kind == "at":
            return job_seconds >= self.trigger.seconds
        if kind == "random":
            return training_seconds >= self.random_delay
        return False

    def on_upload(self) -> bool:
        with self._count_lock:
            self.uploads += 1
        return self.trigger.kind == "checkpoint" and self.uploads >= self.trigger.count

    def on_write_started(self) -> bool:
        with self._count_lock:
            self.writes += 1
        return self.trigger.kind == "checkpoint-write" and self.writes >= self.trigger.count

    def on_log(self, line: str) -> bool:
        return self._regex is not None and self._regex.search(line) is not None
