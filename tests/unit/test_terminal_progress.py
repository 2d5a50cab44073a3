"""Progress in the terminal: the endpoint's progress StatusMessages as a live rich bar on a
terminal (plain lines otherwise), and the compact coloured timeline `smemu run` ends with."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from emulator.checkpoints.progress import RestoreProgress
from emulator.cli.progress import StatusProgress, compact_timeline, parse_progress

MiB = 1024 * 1024
GOLDEN = Path(__file__).parent / "data" / "story_spot_two_interruptions.json"


def restore_lines() -> list[str]:
    """What the endpoint really writes into the StatusMessage for a 100 MiB restore."""
    now = [0.0]
    progress = RestoreProgress(lambda line: None, every_seconds=1.0, clock=lambda: now[0])
    for done in range(0, 101, 10):
        now[0] = done / 10
        progress(done * MiB, 100 * MiB, f"part-{done // 50}")
    return progress.lines


def test_the_restore_status_messages_parse_to_bytes_done_and_in_all() -> None:
    lines = restore_lines()
    assert parse_progress(lines[0]) == ("Restoring checkpoints", 0, 100 * MiB)
    label, done, total = parse_progress(lines[-1]) or ("", 0, 0)
    assert label == "Restoring checkpoints" and total == 100 * MiB and 0 < done <= total
    assert parse_progress("Downloading input data") is None
    assert parse_progress("Restoring checkpoints: done, 2 files, 100.0 MiB in 3.0 s") is None


def test_on_a_terminal_progress_is_a_bar_with_bytes_rate_and_time_left() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    bars = StatusProgress(console)
    lines = restore_lines()
    assert all(bars.show(line) for line in lines)
    assert not bars.show("Training image download completed. Training in progress.")
    assert bars.show("Restoring checkpoints: done, 2 files, 100.0 MiB in 10.0 s (10.0 MiB/s)")
    text = out.getvalue()
    assert "Restoring checkpoints" in text and "MB" in text  # the bar's byte column
    assert "done, 2 files" in text
    bars.close()  # idempotent


def test_the_compact_timeline_has_a_line_per_attempt_with_interruptions_marked() -> None:
    data = json.loads(GOLDEN.read_text())
    report = data.pop("SmemuReport")
    lines = [line.plain for line in compact_timeline(data, report)]
    assert [line.split()[:3] for line in lines] == [
        ["attempt", "1", "algo-1"], ["attempt", "2", "algo-1"], ["attempt", "3", "algo-1"]]
    assert [line.count("!") for line in lines] == [1, 1, 0]
    assert lines[-1].endswith("completed")
    coloured = compact_timeline(data, report)[0]
    assert {span.style for span in coloured.spans} >= {"grey50", "blue", "green", "bold red"}
    assert compact_timeline(data, {"Attempts": []}) == []
