"""Resume verification: what each attempt restored, read, lost and risked. Pure."""

from __future__ import annotations

from emulator.checkpoints.activity import Activity
from emulator.jobs.model import Attempt, CheckpointFile, ResumeVerdict

RESUMED = ResumeVerdict.RESUMED
SCRATCH = ResumeVerdict.RESTARTED_FROM_SCRATCH
FRESH = ResumeVerdict.FRESH_START
SCRATCH_FLAG = "restarted from scratch"
DIFFERS_FLAG = "S3 differs from the checkpoint directory after this attempt"
SIBLINGS_FLAG = "checkpoints of other prefixes restored"
NO_CHECKPOINTS_FLAG = "the job keeps no checkpoints: every interruption restarts it from scratch"
IGNORED_SIGTERM_FLAG = "ignored SIGTERM"
# Why a container outlives its grace period, and the fix (see the contract's toolkit section).
SIGTERM_CAUSE = (
    "likely cause: the entry point runs as PID 1 without a SIGTERM handler (the kernel applies "
    "no default signal action to PID 1, so SIGTERM does nothing), or the sagemaker-training "
    "toolkit runs the script as a child and does not forward SIGTERM to it; fix: install a "
    "SIGTERM handler that checkpoints and exits, `exec` the training process from the entry "
    "script, or run it under an init that forwards signals (tini, `docker run --init`)")


TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", "~")


def is_temp_file(path: str, activity: Activity) -> bool:
    """The temp file of an atomic write ("write X.tmp, rename it to X"): a path this attempt
    renamed to another name, or, before any such rename (the attempt's first write), one
    named like a temp file (`*.tmp`, `*.temp`, `*.part`, `*.partial`, `*~`, or a path part
    starting with `tmp`, like Hugging Face's tmp-checkpoint-N/ and tempfile's tmpXXXX)."""
    parts = path.split("/")
    return path in activity.renamed_away or parts[-1].endswith(TEMP_SUFFIXES) or \
        any(part.startswith("tmp") for part in parts)


def analyse(attempt: Attempt, activity: Activity | None, writing_at_end: set[str], *,
            checkpoint_config: bool = True, local_files: int = 0) -> None:
    """Fill the attempt's resume fields from the checkpoint directory's activity.

    `checkpoint_config`: the job has a CheckpointConfig; `local_files`: how many files its
    checkpoint directory held at the end (both for the "keeps no checkpoints" flag).

    `writing_at_end`: files being written when the container was SIGKILLed (or closed by
    the kernel after it). Rules:
    - torn: such a file, unless it is a temp file (`is_temp_file`): a temp file the kill
      left half-written was never renamed into place; the checkpoint under its final name is
      intact, so the job's checkpoint is not torn.
    - written during the grace window: written between the SIGTERM and the container's end,
      so only when a SIGTERM was sent (a grace period > 0; a /hard kill has no window), and
      not a file the kill interrupted (the kernel closed it, the script did not finish it).
    - written in place: closed by the script under its final name (not temp + rename); a
      file the kill interrupted is reported as torn (or not at all, for a temp file) instead.
    """
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
        attempt.written_in_place = sorted(set(activity.in_place_writes) - writing_at_end)
        start = attempt.interrupted_at
        end = attempt.training_ended_at
        if start is not None and end is not None and attempt.grace_period:
            attempt.written_in_grace = sorted(
                path for path, at in rewritten.items()
                if start <= at <= end + 0.5 and path not in writing_at_end
            )
        attempt.torn = sorted(p for p in writing_at_end if not is_temp_file(p, activity))
    if not restored:
        attempt.resume = FRESH
    elif activity is None:
        attempt.resume = ResumeVerdict.UNKNOWN
    else:
        attempt.resume = RESUMED if attempt.restored_read else SCRATCH
    _lost_work(attempt)
    _flags(attempt)
    if keeps_no_checkpoints(attempt, activity, local_files):
        attempt.flags.append(NO_CHECKPOINTS_FLAG + (
            " (its checkpoint directory stayed empty)" if checkpoint_config
            else " (it has no CheckpointConfig)"))


def keeps_no_checkpoints(attempt: Attempt, activity: Activity | None, local_files: int) -> bool:
    """An interrupted attempt whose checkpoint directory stayed empty: nothing restored into
    it, nothing written, nothing uploaded, nothing left."""
    if attempt.interruption is None or attempt.stopped_by is not None:
        return False
    wrote = activity is not None and bool(activity.in_place_writes or activity.renamed_in)
    return not (attempt.restored or attempt.uploaded or wrote or local_files)


def _lost_work(attempt: Attempt) -> None:
    """Training lost to the interruption: from the moment the newest checkpoint that ended up
    in S3 was written (one flushed after the kill counts: it is what the next attempt
    restores) to the moment the container's training ended (its exit in the grace window, or
    the SIGKILL). Without such a checkpoint, the whole attempt."""
    if attempt.interrupted_at is None or attempt.training_started_at is None:
        return
    end = max(attempt.interrupted_at, attempt.training_ended_at or attempt.interrupted_at)
    # A torn file flushed after the kill replaced its good version in S3: neither counts.
    torn_in_s3 = {u.path for u in attempt.uploaded
                  if u.path in attempt.torn and u.at is not None and u.at > end}
    candidates = [(_written(u), u) for u in attempt.uploaded
                  if u.path not in torn_in_s3 and _written(u) is not None]
    kept = [(at, u) for at, u in candidates if at is not None and at <= end]
    newest = max(kept, key=lambda pair: pair[0]) if kept else None
    attempt.last_checkpoint_at = newest[0] if newest else None
    attempt.last_upload_at = newest[1].at if newest else None
    since = attempt.last_checkpoint_at or attempt.training_started_at
    attempt.lost_seconds = max(0.0, end - max(since, attempt.training_started_at))


def _written(upload: CheckpointFile) -> float | None:
    """When an uploaded checkpoint's content was written (its upload time, when unknown)."""
    return upload.written_at if upload.written_at is not None else upload.at


def siblings_flag(siblings: list[str]) -> str:
    """The flag of a string-prefix restore that matched sibling prefixes, with its fix."""
    return (f"{SIBLINGS_FLAG}: {', '.join(siblings[:5])}"
            + (f" and {len(siblings) - 5} more" if len(siblings) > 5 else "")
            + " start with the checkpoint S3Uri, which has no trailing '/', and SageMaker "
            "restores every key that starts with it; end CheckpointConfig.S3Uri with '/'")


def _flags(attempt: Attempt) -> None:
    flags = []
    if attempt.restored_siblings:
        flags.append(siblings_flag(attempt.restored_siblings))
    if attempt.resume == SCRATCH:
        flags.append(f"{SCRATCH_FLAG}: none of the restored checkpoint files was read")
    if attempt.sigkilled and attempt.grace_period:
        flags.append(f"{IGNORED_SIGTERM_FLAG}: killed after the {attempt.grace_period:g}s grace "
                     f"period; {SIGTERM_CAUSE}")
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
        flags.append(f"{DIFFERS_FLAG}: " + "; ".join(attempt.mirror_differences[:3]))
    attempt.flags = flags


def merge_hosts(attempt: Attempt, views: list[Attempt]) -> None:
    """A multi-instance attempt: the job's verdicts from each host's analysed view.

    The job resumed if any host read a restored file (a rank that loads and broadcasts is
    enough); every other finding is kept with the host it concerns.
    """
    attempt.hosts = views
    attempt.restored = list(views[0].restored) if views else []
    attempt.restored_siblings = list(views[0].restored_siblings) if views else []
    attempt.sigkilled = any(v.sigkilled for v in views)

    def tagged(pick: str) -> list[str]:
        return sorted(f"{v.host}:{path}" for v in views for path in getattr(v, pick))

    attempt.restored_read = tagged("restored_read")
    attempt.written_in_place = tagged("written_in_place")
    attempt.torn = tagged("torn")
    attempt.written_in_grace = tagged("written_in_grace")
    uploads = [v.last_upload_at for v in views if v.last_upload_at is not None]
    attempt.last_upload_at = max(uploads) if uploads else None
    written = [v.last_checkpoint_at for v in views if v.last_checkpoint_at is not None]
    attempt.last_checkpoint_at = max(written) if written else None
    lost = [v.lost_seconds for v in views if v.lost_seconds is not None]
    attempt.lost_seconds = max(lost) if lost else None
    verdicts = {v.resume for v in views}
    if RESUMED in verdicts:
        attempt.resume = RESUMED
    elif len(verdicts) == 1:
        attempt.resume = verdicts.pop()
    else:
        attempt.resume = ResumeVerdict.UNKNOWN
    attempt.conflicts = overwrite_conflicts(views)
    flags = [f"{v.host}: {flag}" for v in views for flag in v.flags
             if (attempt.resume != RESUMED or not flag.startswith(SCRATCH_FLAG))
             and not flag.startswith((DIFFERS_FLAG, SIBLINGS_FLAG, NO_CHECKPOINTS_FLAG))]
    if attempt.restored_siblings:  # the same restore on every host: one flag
        flags.insert(0, siblings_flag(attempt.restored_siblings))
    # The job keeps none only when no host does.
    kept_none = [f for v in views for f in v.flags if f.startswith(NO_CHECKPOINTS_FLAG)]
    if views and len(kept_none) == len(views):
        flags.append(kept_none[0])
    # The proof compares S3 with all the hosts at once: one flag, with what differs.
    if attempt.mirror_verified is False:
        flags.append(f"{DIFFERS_FLAG}: " + "; ".join(attempt.mirror_differences[:3]))
    flags += [f"overwrite conflict: {c}" for c in attempt.conflicts]
    attempt.flags = flags


def overwrite_conflicts(views: list[Attempt]) -> list[str]:
    """S3 keys (all hosts share one prefix) that more than one host wrote or deleted."""
    writers: dict[str, set[str]] = {}
    for view in views:
        for upload in view.uploaded:
            writers.setdefault(upload.path, set()).add(str(view.host))
        for path in view.deleted:
            writers.setdefault(path, set()).add(str(view.host))
    return [
        f"{path} written by {' and '.join(sorted(hosts, key=_host_number))} to the same S3 key "
        "(the last upload wins; name checkpoint files per host, e.g. by SM_CURRENT_HOST)"
        for path, hosts in sorted(writers.items()) if len(hosts) > 1
    ]


def _host_number(host: str) -> int:
    return int(host.rsplit("-", 1)[-1])
