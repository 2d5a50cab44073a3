"""The requests that reach a running job from outside, behind one lock: StopTrainingJob, an
injected interruption, and the endpoint's shutdown (StopTrainingJob with the grace period cut
to the shutdown budget; a kill: no grace period at all)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from emulator.jobs.clock import Clock

STOPPED_BY_REQUEST = "StopTrainingJob"
STOPPED_BY_SHUTDOWN = "StopTrainingJob (the endpoint shut down)"


class JobControl:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.wake = threading.Event()  # set on every request: the job's waits end early
        self._stop = False
        self._kill = False
        self._interrupt: str | None = None
        self._interruptible: Callable[[], bool] = lambda: False
        self._grace_cap: float | None = None  # on the job's monotonic clock
        self.stopped_by = STOPPED_BY_REQUEST

    @property
    def stop_requested(self) -> bool:
        return self._stop

    @property
    def killing(self) -> bool:
        """The endpoint is going away: grace periods end now."""
        return self._kill

    def request_stop(self) -> None:
        with self._lock:
            self._stop = True
        self.wake.set()

    def shut_down(self, grace_deadline: float) -> None:
        """The endpoint is going away: stop, and let no grace period (a running one, or the
        stop's own) last past `grace_deadline` (a time on the job's monotonic clock)."""
        with self._lock:
            if not self._stop:
                self.stopped_by = STOPPED_BY_SHUTDOWN
            self._stop = True
            self._grace_cap = grace_deadline if self._grace_cap is None \
                else min(self._grace_cap, grace_deadline)
        self.wake.set()

    def grace_ends(self, deadline: float) -> float:
        """When a grace period meant to end at `deadline` really ends: earlier when the
        endpoint shuts down, at once when it kills."""
        with self._lock:
            if self._kill:
                return float("-inf")
            return deadline if self._grace_cap is None else min(deadline, self._grace_cap)

    def kill(self) -> None:
        """Stop at once, no grace period."""
        with self._lock:
            self._kill = self._stop = True
        self.wake.set()

    def request_interrupt(self, why: str) -> bool:
        """Ask the running attempt to be interrupted; False when it cannot be now (not
        Training, already ending, or a request already pending)."""
        with self._lock:
            if self._interrupt is not None or not self._interruptible():
                return False
            self._interrupt = why
        self.wake.set()
        return True

    def accept_interrupts(self, interruptible: Callable[[], bool]) -> None:
        """A new attempt takes interruption requests while `interruptible()` holds (checked
        under the lock); a request aimed at an earlier attempt is dropped."""
        with self._lock:
            self._interrupt = None
            self._interruptible = interruptible

    def take_interrupt(self) -> str | None:
        """The pending interruption request (why), now handled."""
        with self._lock:
            why, self._interrupt = self._interrupt, None
        return why

    def pause(self, clock: Clock, seconds: float) -> None:
        """Wait `seconds`, or less when a request comes."""
        clock.wait(self.wake, seconds)
        self.wake.clear()
