"""Seeded random file-system histories replayed against the mirror (real inotify, moto over HTTP).

Each sequence mixes writes, in-place rewrites (growing, shrinking, emptying), appends, atomic
replaces (temp file + rename), renames across directories, deletions, mkdir, rmtree, directory
moves inside the tree and in/out of it, ignored files and symlinks, with random pauses so that
events land while uploads run. After each sequence S3 must equal the local tree: first by the
events alone (no flush), then after ``flush()``; the flush report must carry no errors; a
restore of the prefix into an empty directory must give the same manifest back.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from emulator.checkpoints import (
    CheckpointMirror,
    RestoreProgress,
    local_manifest,
    restore,
    verify_mirror,
)
from emulator.checkpoints.progress import human_bytes
from tests.unit._s3server import MotoS3, store_for

KiB = 1024
MiB = 1024 * KiB
SEEDS = [1, 2, 3, 5, 8, 13, 21]
if os.environ.get("SMEMU_MIRROR_SEEDS"):  # e.g. SMEMU_MIRROR_SEEDS=100-199 for a long soak
    _first, _, _last = os.environ["SMEMU_MIRROR_SEEDS"].partition("-")
    SEEDS = list(range(int(_first), int(_last or _first) + 1))
NAMES = ["a", "b", "c", "model.pt", "opt state.bin", "ünï", "x.json"]


class History:
    """Random operations on a tree; every choice comes from one seeded generator."""

    def __init__(self, root: Path, outside: Path, rng: random.Random) -> None:
        self.root, self.outside, self.rng = root, outside, rng
        self.counter = 0
        self.log: list[str] = []

    # -- picking targets from what is there now -------------------------------------------
    def _dirs(self) -> list[Path]:
        out = [self.root]
        for dirpath, dirnames, _ in os.walk(self.root):
            out += [Path(dirpath) / d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        return out

    def _files(self) -> list[Path]:
        out: list[Path] = []
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                p = Path(dirpath) / name
                if p.is_file() and not p.is_symlink() and ".sagemaker-" not in name:
                    out.append(p)
        return sorted(out)

    def _new_name(self) -> str:
        self.counter += 1
        return f"{self.rng.choice(NAMES)}-{self.counter}"

    def _content(self) -> bytes:
        r = self.rng.random()
        if r < 0.1:
            size = 0
        elif r < 0.85:
            size = self.rng.randint(1, 64 * KiB)
        elif r < 0.98:
            size = self.rng.randint(64 * KiB, 2 * MiB)
        else:
            size = self.rng.randint(8 * MiB + 1, 10 * MiB)  # multipart
        return self.rng.randbytes(size)

    def _write(self, path: Path, data: bytes, mode: str = "wb") -> None:
        with path.open(mode) as fh:
            pieces = self.rng.randint(1, 3)  # several modify events per close, sometimes
            step = max(1, len(data) // pieces)
            for i in range(0, len(data), step):
                fh.write(data[i : i + step])
                fh.flush()

    # -- operations -------------------------------------------------------------------------
    def write_new(self) -> None:
        path = self.rng.choice(self._dirs()) / self._new_name()
        self._write(path, self._content())

    def rewrite(self) -> None:
        if files := self._files():
            self._write(self.rng.choice(files), self._content())

    def append(self) -> None:
        if files := self._files():
            self._write(self.rng.choice(files), self.rng.randbytes(self.rng.randint(1, 4096)),
                        "ab")

    def truncate(self) -> None:
        if files := self._files():
            os.truncate(self.rng.choice(files), 0)

    def atomic_replace(self) -> None:
        files = self._files()
        target = self.rng.choice(files) if files and self.rng.random() < 0.7 else \
            self.rng.choice(self._dirs()) / self._new_name()
        tmp = target.parent / f".tmp-{self._new_name()}"
        self._write(tmp, self._content())
        os.replace(tmp, target)

    def rename(self) -> None:
        if files := self._files():
            files_and_new = files + [d / self._new_name() for d in self._dirs()]
            src, dst = self.rng.choice(files), self.rng.choice(files_and_new)
            if src != dst:
                os.replace(src, dst)

    def delete(self) -> None:
        if files := self._files():
            self.rng.choice(files).unlink()

    def mkdir(self) -> None:
        path = self.rng.choice(self._dirs()) / f"d{self._new_name()}"
        path.mkdir()
        if self.rng.random() < 0.5:
            (path / "inner").mkdir()

    def rmtree(self) -> None:
        if dirs := self._dirs()[1:]:
            shutil.rmtree(self.rng.choice(dirs), ignore_errors=True)

    def move_dir(self) -> None:
        dirs = self._dirs()
        if len(dirs) < 2:
            return
        src = self.rng.choice(dirs[1:])
        parent = self.rng.choice([d for d in dirs if not d.is_relative_to(src)])
        with contextlib.suppress(OSError):
            src.rename(parent / f"m{self._new_name()}")

    def move_out(self) -> None:
        candidates: list[Path] = self._dirs()[1:] + self._files()
        if candidates:
            src = self.rng.choice(candidates)
            with contextlib.suppress(OSError):
                src.rename(self.outside / self._new_name())

    def move_in(self) -> None:
        staged = self.outside / f"in{self._new_name()}"
        if self.rng.random() < 0.5:
            staged.mkdir()
            (staged / "sub").mkdir()
            for target in (staged / "one", staged / "sub" / "two"):
                self._write(target, self._content())
        else:
            self._write(staged, self._content())
        staged.rename(self.rng.choice(self._dirs()) / staged.name)

    def ignored(self) -> None:
        path = self.rng.choice(self._dirs()) / f"{self._new_name()}.sagemaker-ignore"
        self._write(path, self._content())

    def symlink(self) -> None:
        secret = self.outside / f"secret-{self._new_name()}"
        secret.write_bytes(b"never upload me")
        (self.rng.choice(self._dirs()) / self._new_name()).symlink_to(secret)

    OPS = [
        ("write_new", 18), ("rewrite", 12), ("append", 5), ("truncate", 3),
        ("atomic_replace", 12), ("rename", 10), ("delete", 8), ("mkdir", 6), ("rmtree", 3),
        ("move_dir", 5), ("move_out", 3), ("move_in", 4), ("ignored", 2), ("symlink", 2),
    ]

    def step(self) -> None:
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        op = self.rng.choices(names, weights)[0]
        self.log.append(op)
        getattr(self, op)()
        pause = self.rng.choice([0.0, 0.0, 0.0, 0.001, 0.005, 0.02, 0.08])
        if pause:
            time.sleep(pause)


def assert_progress_lines(lines: list[str], report: Any) -> None:
    """What a restore printed: its size, then progress of that size, then the totals."""
    total = re.escape(human_bytes(report.total_bytes))
    assert re.fullmatch(rf"Restoring checkpoints: done, {len(report.files)} files, {total} in "
                        r"\d+\.\d s \(\d+(\.\d)? (B|KiB|MiB|GiB)/s\)", lines[-1]), lines[-1]
    if not report.files:
        assert lines == lines[-1:]
        return
    assert lines[0] == f"Restoring checkpoints: {human_bytes(report.total_bytes)} to download"
    for line in lines[1:-1]:
        match = re.fullmatch(rf"Restoring checkpoints: .+ of {total} \((\d+)%\), (\d+) files "
                             r"started, .+/s(, about \d+ s left)?", line)
        assert match, line
        assert 0 <= int(match[1]) <= 100 and 1 <= int(match[2]) <= len(report.files), line


def _wait_equal(client: Any, uri: str, local: Path, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        differences = verify_mirror(client, uri, local)
        if not differences or time.monotonic() > deadline:
            return differences
        time.sleep(0.2)


# watchdog warns when it re-adds a watch it lost track of; the mirror re-watches then.
@pytest.mark.filterwarnings("ignore:Callback with id")
@pytest.mark.parametrize("seed", SEEDS)
def test_random_history_ends_with_s3_equal_to_local(seed: int, s3: MotoS3,
                                                     tmp_path: Path) -> None:
    rng = random.Random(seed)
    client = s3.client()
    uri = f"s3://{s3.new_bucket(client)}/run/ckpt"
    local, outside = tmp_path / "ckpt", tmp_path / "outside"
    local.mkdir()
    outside.mkdir()
    markers = seed % 2 == 1
    mirror = CheckpointMirror(local, uri, store_for(client), markers=markers,
                              settle_seconds=rng.choice([0.0, 0.02]), quiet_seconds=0.2,
                              rescan_seconds=None)
    history = History(local, outside, rng)
    with mirror:
        for _round in range(2):  # two sequences per seed, checked after each
            for _ in range(rng.randint(50, 90)):
                history.step()
            unflushed = _wait_equal(client, uri, local, timeout=15)
            assert unflushed == [], (seed, history.log, unflushed)
            report = mirror.flush(timeout=60)
            assert report.errors == [], (seed, report.errors)
            assert verify_mirror(client, uri, local) == [], (seed, history.log)
    assert mirror.stop().errors == []

    # No symlink target, ignored file or marker ever reached S3; a restore gives the tree back.
    restored = tmp_path / "restored"
    lines: list[str] = []
    progress = RestoreProgress(lines.append, threshold_bytes=0, every_seconds=0.0)
    report = restore(store_for(client), uri, restored, progress=progress)
    assert local_manifest(restored).files == local_manifest(local).files
    assert progress.finish(report) == lines[-1]
    assert_progress_lines(lines, report)
    assert all(".sagemaker-" not in e.path for e in report.files)
