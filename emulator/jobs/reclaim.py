"""One host's spot instance reclaimed (trigger option `host=`): what its peers saw. Pure."""

from __future__ import annotations

from emulator.contract import DEFAULT_PEER_STOP_DELAY_S
from emulator.errors import ValidationException
from emulator.faults.trigger import Trigger
from emulator.jobs.model import Attempt
from emulator.jobs.spec import JobSpec


def check_plan_hosts(spec: JobSpec) -> None:
    """A `host=` trigger must name a host of the job (at CreateTrainingJob, not mid-run)."""
    unknown = sorted({t.host for t in spec.settings.plan.triggers
                      if t.host is not None and t.host not in spec.hosts})
    if unknown:
        raise ValidationException(
            f"Invalid emulator tag: smemu:interrupt names {', '.join(unknown)}, but the job's "
            f"hosts are {', '.join(spec.hosts)}")


def target_delay(trigger: Trigger | None) -> float:
    """How long the peers of the reclaimed host run on before the job is stopped."""
    if trigger is None or trigger.peers is None:
        return DEFAULT_PEER_STOP_DELAY_S
    return trigger.peers


def note_reclaim(attempt: Attempt, host: str, gone_at: float, stopped_at: float,
                 peers: list[tuple[Attempt, int | None, float | None]]) -> None:
    """Record the reclaimed host on the attempt, and on each peer's view what it did: ended by
    itself (its exit code, how long after the reclaimed host was gone) or was stopped."""
    attempt.reclaimed_host = host
    for view, exit_code, exited_at in peers:
        view.reclaimed_host = host
        view.after_reclaim = reaction(exit_code, view.sigkilled, exited_at, gone_at,
                                      stopped_at, host)


def reaction(exit_code: int | None, sigkilled: bool, exited_at: float | None, gone_at: float,
             stopped_at: float, host: str) -> str:
    if exited_at is not None and exited_at <= stopped_at:
        return (f"exited {exit_code} by itself {max(0.0, exited_at - gone_at):.1f}s after "
                f"{host} was gone")
    if sigkilled:
        return f"ran on until stopped: SIGKILLed after the grace period ({host} was gone)"
    return f"ran on until stopped: SIGTERM, exited {exit_code}"
