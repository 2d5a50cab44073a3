"""The final flush's progress: counted by a real mirror against moto S3 over HTTP, read from the
report by `smemu run` and drawn as a bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from rich.console import Console

from emulator.checkpoints import CheckpointMirror, MirrorEvent
from emulator.cli.flush_watch import FlushWatch, attempt_flushes, flush_line
from emulator.cli.progress import StatusProgress, parse_progress
from tests.unit._s3server import store_for

MiB = 1024 * 1024


def test_the_mirror_counts_the_files_and_bytes_its_final_flush_uploads(
        local: Path, uri: str, client: Any) -> None:
    seen: list[dict[str, Any] | None] = []
    lock = threading.Lock()
    mirror: CheckpointMirror

    def on_event(event: MirrorEvent) -> None:
        if event.kind == "uploaded":
            with lock:
                seen.append(mirror.flush_progress.snapshot())

    # One worker and a settle time longer than the test: every file is still pending at stop.
    mirror = CheckpointMirror(local, uri, store_for(client), workers=1, settle_seconds=600,
                              on_event=on_event)
    published: list[dict[str, Any] | None] = []
    mirror.flush_progress.on_change = published.append  # what the job's report shows
    mirror.start()
    sizes = {"a.bin": 3 * MiB, "b.bin": 1 * MiB, "sub/c.bin": 2 * MiB}
    for rel, size in sizes.items():
        (local / rel).parent.mkdir(parents=True, exist_ok=True)
        (local / rel).write_bytes(b"x" * size)
    assert mirror.flush_progress.snapshot() is None  # no flush yet
    report = mirror.stop(flush=True)
    assert sorted(e.path for e in report.uploaded) == sorted(sizes)
    final = mirror.flush_progress.snapshot()
    assert final is not None and final["EndedAt"] is not None
    assert (final["FilesDone"], final["FilesTotal"]) == (3, 3)
    assert final["BytesDone"] == final["BytesTotal"] == sum(sizes.values())
    # Seen under way: at each upload the ones before it were counted, not yet this one.
    assert [s["FilesDone"] if s else None for s in seen] == [0, 1, 2]
    assert all(s and s["FilesTotal"] == 3 and s["EndedAt"] is None for s in seen)
    assert all(s and s["BytesTotal"] == 6 * MiB for s in seen)
    assert published[-1] == final
    done = [p["FilesDone"] for p in published if p]
    assert done == sorted(done) and len(published) >= 5  # begin, add, 3 files, end


def test_a_large_file_counts_its_bytes_while_its_upload_is_under_way(
        local: Path, uri: str, client: Any) -> None:
    mirror = CheckpointMirror(local, uri, store_for(client), settle_seconds=600)
    mirror.flush_progress.every = 0.0  # publish every read
    published: list[dict[str, Any] | None] = []
    mirror.flush_progress.on_change = published.append
    mirror.start()
    (local / "big.bin").write_bytes(b"x" * 24 * MiB)  # above 8 MiB: one streamed PUT
    mirror.stop(flush=True)
    done = [p["BytesDone"] for p in published if p]
    assert done[-1] == 24 * MiB and done == sorted(done)
    assert any(0 < d < 24 * MiB for d in done), done  # part of the file, before it was done
    assert all(p and p["FilesDone"] == 0 for p in published[:-1] if p and
               p["BytesDone"] < 24 * MiB)


def flush(done: int, total: int, files: tuple[int, int], ended: float | None = None
          ) -> dict[str, Any]:
    return {"FilesDone": files[0], "FilesTotal": files[1], "BytesDone": done,
            "BytesTotal": total, "StartedAt": 100.0, "EndedAt": ended}


def test_each_attempts_flush_is_read_from_the_report_hosts_summed() -> None:
    report = {"Attempts": [
        {"Attempt": 1, "CheckpointFlush": flush(0, 10, (0, 1), ended=101.0)},
        {"Attempt": 2, "Hosts": [
            {"Host": "algo-1", "CheckpointFlush": flush(5 * MiB, 80 * MiB, (1, 4))},
            {"Host": "algo-2", "CheckpointFlush": flush(0, 20 * MiB, (0, 1), ended=103.0)}]},
        {"Attempt": 3, "CheckpointFlush": None}]}
    (first, ended), (attempt, summed) = attempt_flushes(report)
    assert first == 1 and ended["EndedAt"] == 101.0 and attempt == 2
    assert summed["BytesDone"] == 5 * MiB and summed["BytesTotal"] == 100 * MiB
    assert (summed["FilesDone"], summed["FilesTotal"]) == (1, 5)
    assert summed["EndedAt"] is None  # algo-1 still flushes
    assert attempt_flushes({"Attempts": [{"Attempt": 1, "CheckpointFlush": None}]}) == []


def test_a_flush_line_parses_as_progress_and_its_end_as_a_done_line() -> None:
    line = flush_line(flush(50 * MiB, 200 * MiB, (1, 4)), now=103.0)
    assert line.startswith("Flushing checkpoints: 50.0 MiB of 200.0 MiB (25%), 1 of 4 files")
    assert parse_progress(line) == ("Flushing checkpoints", 50 * MiB, 200 * MiB)
    done = flush_line(flush(200 * MiB, 200 * MiB, (4, 4), ended=108.0), now=110.0)
    assert done == "Flushing checkpoints: done, 4 of 4 files, 200.0 MiB of 200.0 MiB in 8.0 s"


class Feed:
    """The report as the endpoint would answer it at each poll."""

    def __init__(self, flushes: list[dict[str, Any] | None]) -> None:
        self.flushes = flushes

    def __call__(self) -> dict[str, Any]:
        current = self.flushes.pop(0) if len(self.flushes) > 1 else self.flushes[0]
        return {"Attempts": [{"Attempt": 1, "CheckpointFlush": current}]}


def watch(feed: Feed, progress: StatusProgress | None, polls: int) -> list[str]:
    now = [0.0]
    echoed: list[str] = []
    tick = FlushWatch(feed, progress, every=0.5, plain_every=2.0, clock=lambda: now[0],
                      echo=echoed.append)
    for _ in range(polls):
        tick()
        now[0] += 1.0
    return echoed


def test_on_a_terminal_the_flush_is_a_bar_and_its_end_one_line() -> None:
    out = io.StringIO()
    bars = StatusProgress(Console(file=out, force_terminal=True, width=120))
    feed = Feed([None, flush(0, 200 * MiB, (0, 4)), flush(100 * MiB, 200 * MiB, (2, 4)),
                 flush(200 * MiB, 200 * MiB, (4, 4), ended=104.0)])
    assert watch(feed, bars, polls=6) == []  # all drawn by the bar
    text = out.getvalue()
    assert "Flushing checkpoints" in text and "209.7 MB" in text  # the bar's byte column
    assert text.count("done, 4 of 4 files") == 1  # shown once, not at every later poll


def test_piped_the_flush_is_a_few_plain_lines_and_small_flushes_are_silent() -> None:
    feed = Feed([flush(0, 200 * MiB, (0, 4)), flush(50 * MiB, 200 * MiB, (1, 4)),
                 flush(100 * MiB, 200 * MiB, (2, 4)), flush(150 * MiB, 200 * MiB, (3, 4)),
                 flush(200 * MiB, 200 * MiB, (4, 4), ended=104.0)])
    lines = watch(feed, None, polls=8)
    # Every 2 s while it runs (polls at 0, 2, 4 s of 1 s apart), then its end, once.
    assert [line.split(",")[0] for line in lines] == [
        "Flushing checkpoints: 0 B of 200.0 MiB (0%)",
        "Flushing checkpoints: 100.0 MiB of 200.0 MiB (50%)",
        "Flushing checkpoints: done"]
    small = Feed([flush(0, 1 * MiB, (0, 1)), flush(1 * MiB, 1 * MiB, (1, 1), ended=101.0)])
    assert watch(small, None, polls=4) == []


def test_a_flush_is_shown_to_its_end_when_the_next_attempt_flushed_before_the_poll() -> None:
    reports = [
        {"Attempts": [{"Attempt": 1, "CheckpointFlush": flush(0, 200 * MiB, (0, 4))}]},
        {"Attempts": [{"Attempt": 1, "CheckpointFlush": flush(200 * MiB, 200 * MiB, (4, 4),
                                                              ended=104.0)},
                      {"Attempt": 2, "CheckpointFlush": flush(0, 0, (0, 0), ended=106.0)}]}]
    now = [0.0]
    echoed: list[str] = []
    tick = FlushWatch(lambda: reports.pop(0) if len(reports) > 1 else reports[0], None,
                      clock=lambda: now[0], echo=echoed.append)
    for _ in range(4):
        tick()
        now[0] += 1.0
    assert [line.split(",")[0] for line in echoed] == [
        "Flushing checkpoints: 0 B of 200.0 MiB (0%)", "Flushing checkpoints: done"]
