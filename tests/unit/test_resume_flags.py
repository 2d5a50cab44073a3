"""The report's flags for kills: no grace-window flag without a SIGTERM, no torn flag for a temp
file the kill left half-written (pure: jobs/resume.py on hand-made activity records)."""

from __future__ import annotations

from emulator.checkpoints.activity import Activity
from emulator.jobs.model import Attempt, CheckpointFile
from emulator.jobs.resume import analyse, is_temp_file

KILLED_AT = 110.0


def killed_attempt(grace: float) -> Attempt:
    """Interrupted at 100 s: SIGKILLed at once (grace 0, a /hard trigger) or after `grace`."""
    return Attempt(1, 90.0, training_started_at=91.0, interrupted_at=100.0,
                   training_ended_at=100.0 + grace, grace_period=grace, sigkilled=True)


def atomic_writes(*renames: float) -> Activity:
    """checkpoint.json.tmp written and renamed onto checkpoint.json at each time."""
    activity = Activity()
    for at in renames:
        activity.renamed_in["checkpoint.json"] = at
        activity.renamed_away["checkpoint.json.tmp"] = at
        activity.first_written.setdefault("checkpoint.json", at)
    return activity


def has_flag(attempt: Attempt, text: str) -> bool:
    return any(text in flag for flag in attempt.flags)


def test_hard_kill_has_no_grace_window_even_when_a_rename_lands_with_the_kill() -> None:
    # The script renamed its checkpoint into place between the trigger and the SIGKILL.
    attempt = killed_attempt(grace=0.0)
    analyse(attempt, atomic_writes(95.0, 100.01), set())
    assert attempt.written_in_grace == []
    assert not has_flag(attempt, "grace window")
    assert not has_flag(attempt, "ignored SIGTERM")


def test_a_checkpoint_written_after_the_sigterm_is_flagged() -> None:
    attempt = killed_attempt(grace=10.0)
    analyse(attempt, atomic_writes(95.0, 104.0), set())
    assert attempt.written_in_grace == ["checkpoint.json"]
    assert has_flag(attempt, "checkpoint written during the grace window, by a container that "
                             "ignored SIGTERM")


def test_a_file_the_kill_interrupted_was_not_written_during_the_grace_window() -> None:
    attempt = killed_attempt(grace=10.0)
    activity = atomic_writes(95.0)
    activity.in_place_writes["b.bin"] = KILLED_AT + 0.01  # the kernel closed it after the kill
    analyse(attempt, activity, {"b.bin"})
    assert attempt.written_in_grace == []
    assert attempt.torn == ["b.bin"]  # written in place and cut short: really torn
    assert has_flag(attempt, "torn checkpoint (being written when the container died): b.bin")


def test_a_half_written_temp_file_is_not_a_torn_checkpoint() -> None:
    # checkpoint-write=2/hard: the kill lands while the 2nd checkpoint.json.tmp is written;
    # checkpoint.json still holds the 1st checkpoint, intact.
    attempt = killed_attempt(grace=0.0)
    activity = atomic_writes(95.0)
    activity.in_place_writes["checkpoint.json.tmp"] = 100.02  # closed by the kernel
    analyse(attempt, activity, {"checkpoint.json.tmp"})
    assert attempt.torn == []
    assert attempt.written_in_place == []  # nor a checkpoint written in place
    assert attempt.flags == []


def test_a_temp_file_of_the_first_write_is_known_by_its_name() -> None:
    attempt = killed_attempt(grace=0.0)  # checkpoint-write=1/hard: no rename seen yet
    activity = Activity()
    activity.in_place_writes["checkpoint.json.tmp"] = 100.02
    analyse(attempt, activity, {"checkpoint.json.tmp"})
    assert attempt.torn == [] and attempt.flags == []


def test_which_paths_are_temp_files() -> None:
    activity = atomic_writes(1.0)
    activity.renamed_away["state.staging"] = 2.0  # a name of the script's own: seen renamed
    for temp in ("checkpoint.json.tmp", "state.staging", "model.pt.part", "x.partial",
                 "notes~", "tmp-checkpoint-10/model.safetensors", "tmpab12cd", "a/b.temp"):
        assert is_temp_file(temp, activity), temp
    for final in ("checkpoint.json", "b.bin", "ckpt/step-10.pt", "attempt/model.tmp.pt"):
        assert not is_temp_file(final, activity), final


def interrupted(grace: float = 0.0, *, sigkilled: bool = True, ended: float = 100.0) -> Attempt:
    """Training 91 s -> interrupted at 100 s (by `after=...`), training over at `ended`."""
    return Attempt(1, 90.0, training_started_at=91.0, interrupted_at=100.0,
                   training_ended_at=ended, grace_period=grace, sigkilled=sigkilled,
                   interruption="after=9s")


def test_a_checkpoint_flushed_after_the_kill_counts_from_when_it_was_written() -> None:
    # The case: a big checkpoint closed at 99.5 s, the kill at 100 s, its upload done
    # only by the flush at 130 s. The next attempt resumes from it: 0.5 s were lost, not 9.
    attempt = interrupted()
    attempt.uploaded = [CheckpointFile("small.bin", 1, None, at=93.5, written_at=93.0),
                        CheckpointFile("big.bin", 2 << 30, None, at=130.0, written_at=99.5)]
    analyse(attempt, Activity(), set())
    assert attempt.lost_seconds == 0.5
    assert attempt.last_checkpoint_at == 99.5 and attempt.last_upload_at == 130.0


def test_a_checkpoint_that_never_reached_s3_does_not_count() -> None:
    # "lose": big.bin was written at 99.5 s but never uploaded; small.bin (93 s) is what is left.
    attempt = interrupted()
    attempt.uploaded = [CheckpointFile("small.bin", 1, None, at=93.5, written_at=93.0)]
    analyse(attempt, Activity(), set())
    assert attempt.lost_seconds == 7.0


def test_a_torn_checkpoint_flushed_after_the_kill_saves_nothing() -> None:
    attempt = interrupted()
    attempt.uploaded = [CheckpointFile("ckpt.bin", 1, None, at=95.5, written_at=95.0),
                        CheckpointFile("ckpt.bin", 1, None, at=101.0, written_at=99.9)]
    activity = Activity()
    activity.in_place_writes["ckpt.bin"] = 100.01
    analyse(attempt, activity, {"ckpt.bin"})
    assert attempt.torn == ["ckpt.bin"]
    assert attempt.lost_seconds == 9.0  # S3 holds the torn one: the whole attempt


def test_a_checkpoint_written_on_sigterm_saves_the_work_up_to_the_exit() -> None:
    attempt = interrupted(grace=120.0, sigkilled=False, ended=100.4)
    attempt.uploaded = [CheckpointFile("checkpoint.json", 1, None, at=96.2, written_at=96.0),
                        CheckpointFile("checkpoint.json", 1, None, at=100.6, written_at=100.3)]
    analyse(attempt, Activity(), set())
    assert attempt.lost_seconds is not None and round(attempt.lost_seconds, 3) == 0.1


def test_no_upload_loses_the_whole_attempt() -> None:
    attempt = interrupted()
    analyse(attempt, Activity(), set())
    assert attempt.lost_seconds == 9.0


def test_an_interrupted_attempt_with_an_empty_checkpoint_directory_is_flagged() -> None:
    attempt = interrupted()
    analyse(attempt, Activity(), set())
    assert has_flag(attempt, "the job keeps no checkpoints: every interruption restarts it from "
                             "scratch (its checkpoint directory stayed empty)")
    bare = interrupted()
    analyse(bare, None, set(), checkpoint_config=False)
    assert has_flag(bare, "keeps no checkpoints: every interruption restarts it from scratch "
                          "(it has no CheckpointConfig)")
    # Something in the directory, or a completed attempt: no such flag.
    for kept in (dict(local_files=1), dict()):
        attempt = interrupted()
        if not kept:
            attempt.interruption = None
        analyse(attempt, Activity(), set(), **kept)  # type: ignore[arg-type]
        assert not has_flag(attempt, "keeps no checkpoints")
    written = interrupted()
    activity = Activity()
    activity.renamed_in["checkpoint.json"] = 95.0
    analyse(written, activity, set())
    assert not has_flag(written, "keeps no checkpoints")


def test_ignored_sigterm_says_why_and_how_to_fix_it() -> None:
    attempt = interrupted(grace=5.0, ended=105.0)
    analyse(attempt, Activity(), set())
    flag = next(f for f in attempt.flags if f.startswith("ignored SIGTERM"))
    assert "killed after the 5s grace period" in flag
    assert "PID 1 without a SIGTERM handler" in flag
    assert "sagemaker-training toolkit" in flag and "does not forward SIGTERM" in flag
    assert "`exec`" in flag and "tini" in flag and "SIGTERM handler" in flag
