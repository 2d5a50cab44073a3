"""Resume verification: what each attempt restored, read, lost and risked. Pure."""

from __future__ import annotations

from emulator.checkpoints.activity import Activity
from emulator.jobs.model import Attempt

RESUMED = "resumed"
SCRATCH = "restarted-from-scratch"
FRESH = "fresh-start"


def analyse(attempt: Attempt, activity: Activity | None, writing_at_end: set[str]) -> None:
    """Fill the attempt's resume fields from the checkpoint directory's activity."""
    restored = {f.path for f in attempt.restored}
    if activity is not None:
        rewritten = {**activity.in_place_writes, **activity.renamed_in}
        first = activity.first_written
        # A read of a restored file counts only before the script replaced it (later reads
        # are the mirror uploading the new content).
        attempt.restored_read = sorted(
            path for path, at in activity.reads.items()
            if path in restored and (path not in first or at <= first[path])
        )
        attempt.written_in_place = sorted(activity.in_place_writes)
        start = attempt.interrupted_at
        end = attempt.training_ended_at
        if start is not None and end is not None:
            attempt.written_in_grace = sorted(
                path for path, at in rewritten.items() if start <= at <= end + 0.5
            )
        attempt.torn = sorted(writing_at_end)
    if not restored:
        attempt.resume = FRESH
    elif activity is None:
        attempt.resume = "unknown"
    else:
        attempt.resume = RESUMED if attempt.restored_read else SCRATCH
    _lost_work(attempt)
    _flags(attempt)


def _lost_work(attempt: Attempt) -> None:
    if attempt.interrupted_at is None or attempt.training_started_at is None:
        return
    # Work is lost up to the moment the container died: the SIGKILL when it outlived its grace.
    end = attempt.interrupted_at
    if attempt.sigkilled and attempt.training_ended_at is not None:
        end = max(end, attempt.training_ended_at)
    before = [u.at for u in attempt.uploaded if u.at is not None and u.at <= end]
    attempt.last_upload_at = max(before) if before else None
    since = attempt.last_upload_at or attempt.training_started_at
    attempt.lost_seconds = max(0.0, end - since)


def _flags(attempt: Attempt) -> None:
    flags = []
    if attempt.resume == SCRATCH:
        flags.append("restarted from scratch: none of the restored checkpoint files was read")
    if attempt.sigkilled and attempt.grace_period:
        flags.append(f"ignored SIGTERM: killed after the {attempt.grace_period:g}s grace period")
    if attempt.written_in_grace:
        why = ("by a container that ignored SIGTERM (training went on until the SIGKILL)"
               if attempt.sigkilled else "after SIGTERM")
        flags.append(f"checkpoint written during the grace window, {why}: "
                     + ", ".join(attempt.written_in_grace))
    if attempt.torn:
        flags.append("torn checkpoint (being written when the container died): "
                     + ", ".join(attempt.torn))
    elif attempt.written_in_place:
        flags.append("checkpoint written in place, not atomically (temp file + rename): "
                     + ", ".join(attempt.written_in_place))
    if attempt.mirror_verified is False:
        flags.append("S3 differs from the checkpoint directory after this attempt: "
                     + "; ".join(attempt.mirror_differences[:3]))
    attempt.flags = flags
