"""The report's flags for kills: no grace-window flag without a SIGTERM, no torn flag for a temp
file the kill left half-written (pure: jobs/resume.py on hand-made activity records)."""

from __future__ import annotations

from emulator.checkpoints.activity import Activity
from emulator.jobs.model import Attempt
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
