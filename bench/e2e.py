"""The harness end to end: a job's overhead, interruption to the next attempt (and the cost of
the end-of-attempt proof in the same jobs), CreateTrainingJob, concurrent jobs, and S3 through
the endpoint's port; every figure a ratio measured in this run.

    python -m bench e2e                      # both S3 backends where it matters
    BENCH_REPEAT=5 python -m bench e2e       # more interleaved repetitions (default 3)
    BENCH_E2E_BACKENDS=disk python -m bench e2e
    BENCH_E2E_PHASES=concurrency,"S3 port" python -m bench e2e   # some of the figures
    BENCH_E2E_PHASES=proof BENCH_SCALE=0.01 python -m bench e2e    # checkpoints of 1 % size

Each figure is the median of BENCH_REPEAT repetitions, the variants interleaved within each
round (their order rotated), against an anchor measured in the same round: a bare `docker run`
of the same image, the restore alone, the checkpoint's own upload, one job alone, the same S3
application on a port of its own. Writes bench/results-e2e.md.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from bench import tools
from bench.e2e_jobs import (
    BASE,
    TRIVIAL,
    ContainerStarts,
    DirectS3,
    Endpoint,
    bare_docker_run,
    interrupt,
    job_name,
    report,
    request,
    smemu_run,
    trivial_config,
    wait_job,
)
from bench.run import machine
from emulator.checkpoints import restore
from emulator.storage.s3 import S3Endpoint

MiB = 1 << 20
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
BACKENDS = [b for b in os.environ.get("BENCH_E2E_BACKENDS", "disk,moto").split(",") if b]
PHASES = [p for p in os.environ.get("BENCH_E2E_PHASES", "").split(",") if p]  # default: all
SCALE = float(os.environ.get("BENCH_SCALE", "1"))  # 0.01: a smoke run of the bench itself
CHECKPOINT_SIZES = [0, int(256 * MiB * SCALE), int(2048 * MiB * SCALE)]
CONCURRENCY = [1, 4, 8]
CREATES = max(10, int(100 * SCALE))
S3_FILES = max(10, int(300 * SCALE))
Lines = list[str]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rotated(items: list[Any], round_number: int) -> list[Any]:
    shift = round_number % len(items)
    return items[shift:] + items[:shift]


def runs(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


# -- a trivial job ---------------------------------------------------------------------------
def trivial_job(ep: Endpoint, bucket: str, out: Lines) -> None:
    config = trivial_config()
    sagemaker = ep.client("sagemaker")

    cpu: list[float] = []  # the endpoint process's CPU seconds per job: steadier under load

    def through_boto3() -> float:
        name = job_name("trivial")
        cpu_before, started = ep.cpu_seconds(), time.monotonic()
        sagemaker.create_training_job(**request(name, bucket, hyperparameters=TRIVIAL))
        job = wait_job(sagemaker, name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        seconds = time.monotonic() - started
        cpu.append(ep.cpu_seconds() - cpu_before)
        return seconds

    variants: dict[str, Callable[[], float]] = {
        "docker run": lambda: bare_docker_run(config), "smemu run": lambda: smemu_run(ep, bucket),
        "boto3 create+wait": through_boto3}
    times: dict[str, list[float]] = {k: [] for k in variants}
    through_boto3()  # warm: the first job starts the endpoint's S3 gateway
    for n in range(REPEAT):
        for name in rotated(list(variants), n):
            times[name].append(variants[name]())
    shutil.rmtree(config, ignore_errors=True)
    bare = median(times["docker run"])
    out.append(f"| trivial job (toy trainer, 1 step), {ep.backend} | docker run | {bare:.2f} s "
               f"| {runs(times['docker run'])} | 1.00 | anchor |")
    for name in ("smemu run", "boto3 create+wait"):
        ours = median(times[name])
        verdict = "met" if ours - bare <= 1.0 else "NOT met"
        out.append(f"| trivial job, {ep.backend} | {name} | {ours:.2f} s ({ours - bare:+.2f} s) "
                   f"| {runs(times[name])} | {ours / bare:.2f} | +1.0 s: {verdict} |")
    out.append(f"| endpoint CPU per trivial job, {ep.backend} | boto3 create+wait "
               f"| {median(cpu[1:]):.2f} s | {runs(cpu[1:])} | | (no target) |")


# -- interruption to the next attempt -------------------------------------------------------
def _checkpoint_job(size: int) -> list[str]:
    """Attempt 1 writes `size` bytes to one checkpoint file and waits; a later attempt that
    finds it ends at once."""
    write = f"head -c {size} /dev/zero > /opt/ml/checkpoints/state.bin && " if size else ""
    script = ("if [ -e /opt/ml/checkpoints/done ]; then exit 0; fi; "
              f"{write}touch /opt/ml/checkpoints/done && echo written && exec sleep 3600")
    return ["sh", "-c", script]


def _uploaded(ep: Endpoint, name: str, files: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attempts = report(ep, name)["Attempts"]
        if attempts and len(attempts[0]["CheckpointsUploaded"]) >= files:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{name}: the checkpoint was not uploaded in {timeout:.0f}s")


class GapRun(NamedTuple):
    """One interruption: its gap to the next container, the restore alone, and the proof."""

    gap: float  # interruption -> the next attempt's container started
    alone: float  # the restore of the same prefix alone
    proof: float | None  # attempt 1's end-of-attempt proof (ProofSeconds)
    upload: float | None  # attempt 1's checkpoint uploads, first start to last end
    proof_after_restore: float | None  # attempt 2's proof (it uploaded nothing new)


def _upload_span(attempt: dict[str, Any]) -> float | None:
    """From the first upload's start to the last's end, each path's last upload."""
    last = {u["path"]: u for u in attempt["CheckpointsUploaded"] if u.get("seconds") is not None}
    if not last:
        return None
    return max(u["at"] for u in last.values()) - \
        min(u["at"] - u["seconds"] for u in last.values())


def interruption_gap(ep: Endpoint, bucket: str, size: int) -> GapRun:
    sagemaker = ep.client("sagemaker")
    name = job_name(f"gap{size // MiB}")
    uri = f"s3://{bucket}/checkpoints/{name}"
    starts = ContainerStarts(name)
    try:
        sagemaker.create_training_job(**request(
            name, bucket, image=BASE, spot=True, checkpoint=uri, entrypoint=_checkpoint_job(size),
            tags={"smemu:grace-period": "0s"}))
        starts.wait_for(1)
        _uploaded(ep, name, 2 if size else 1)  # uploaded before the kill, as the target says
        interrupted = time.time()
        interrupt(ep, name)
        gap = starts.wait_for(2) - interrupted
        job = wait_job(sagemaker, name, poll=0.2)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        first, *later = report(ep, name)["Attempts"]
    finally:
        starts.close()
    target = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    try:
        store = S3Endpoint(ep.url, whole_object=ep.whole_object).blob_store()
        started = time.monotonic()
        restore(store, uri, target)
        alone = time.monotonic() - started
    finally:
        shutil.rmtree(target, ignore_errors=True)
    return GapRun(gap, alone, first["ProofSeconds"], _upload_span(first),
                  later[0]["ProofSeconds"] if later else None)


def interruptions(ep: Endpoint, bucket: str, out: Lines, *, gaps: bool, proofs: bool) -> None:
    """Rounds of every checkpoint size, their order rotated (the largest runs one round
    fewer: it takes longest). `gaps`: the interruption rows; `proofs`: the proof rows, from
    the same jobs (only the sizes with a checkpoint when there are no gap rows)."""
    sizes = CHECKPOINT_SIZES if gaps else [s for s in CHECKPOINT_SIZES if s]
    results: dict[int, list[GapRun]] = {size: [] for size in sizes}
    for n in range(REPEAT):
        for size in rotated(sizes, n):
            if size != CHECKPOINT_SIZES[-1] or n < max(1, REPEAT - 1):
                results[size].append(interruption_gap(ep, bucket, size))
    for size in sizes if gaps else []:
        seen, alones = [r.gap for r in results[size]], [r.alone for r in results[size]]
        gap, alone = median(seen), median(alones)
        verdict = "met" if gap - alone <= 1.0 else "NOT met"
        out.append(f"| interruption -> next container running, checkpoint {_label(size)}, "
                   f"{ep.backend} | smemu | {gap:.2f} s (restore alone {alone:.2f} s) "
                   f"| {runs(seen)} / {runs(alones)} | {gap - alone:+.2f} s "
                   f"| restore + 1.0 s: {verdict} |")
    for size in [s for s in sizes if s] if proofs else []:
        timed = [r for r in results[size] if r.proof is not None and r.upload]
        if not timed:
            out.append(f"| end-of-attempt proof, checkpoint {_label(size)}, {ep.backend} "
                       "| failed | no ProofSeconds or upload times in the report | | | |")
            continue
        proof, upload = [r.proof or 0.0 for r in timed], [r.upload or 0.0 for r in timed]
        ratio = median([p / u for p, u in zip(proof, upload, strict=True)])
        after = [r.proof_after_restore for r in timed if r.proof_after_restore is not None]
        verdict = "met" if ratio <= 0.05 else "NOT met"
        out.append(f"| end-of-attempt proof against the checkpoint's upload, {_label(size)}, "
                   f"{ep.backend} | smemu | {median(proof):.3f} s (upload {median(upload):.2f} s;"
                   f" after the restore {median(after):.3f} s) | {runs(proof, 3)} / "
                   f"{runs(upload)} | {ratio:.4f} ({ratio * 100:.2f} %) | <= 5 %: {verdict} |")


def _label(size: int) -> str:
    return f"{size / MiB:g} MiB" if size else "none"


# -- CreateTrainingJob latency ------------------------------------------------------------
def create_latency(ep: Endpoint, bucket: str, out: Lines) -> None:
    """CREATES creates of spot jobs that wait for capacity first (no container, no network),
    stopped afterwards."""
    sagemaker = ep.client("sagemaker")
    names, seconds = [job_name("create") for _ in range(CREATES)], []
    for name in names:
        body = request(name, bucket, spot=True, hyperparameters=TRIVIAL,
                       tags={"smemu:interrupt": "wait=1h"})
        started = time.monotonic()
        sagemaker.create_training_job(**body)
        seconds.append(time.monotonic() - started)
    for name in names:
        sagemaker.stop_training_job(TrainingJobName=name)
    for name in names:
        wait_job(sagemaker, name, poll=0.2)
    ordered = sorted(seconds)
    # p99 by nearest rank: the 99th of 100, the 10th of 10
    p50, p99 = median(seconds) * 1000, ordered[math.ceil(len(ordered) * 0.99) - 1] * 1000
    met = "met" if p50 <= 50 and p99 <= 200 else "NOT met"
    out.append(f"| CreateTrainingJob latency ({CREATES} creates), {ep.backend} | boto3 "
               f"| p50 {p50:.0f} ms, p99 {p99:.0f} ms | | | p50 <= 50 ms, p99 <= 200 ms: {met} |")


# -- concurrent spot jobs -------------------------------------------------------------------
def concurrent_jobs(ep: Endpoint, bucket: str, count: int) -> float:
    sagemaker = ep.client("sagemaker")
    names = [job_name(f"conc{count}") for _ in range(count)]
    started = time.monotonic()
    for name in names:
        sagemaker.create_training_job(**request(
            name, bucket, spot=True, checkpoint=f"s3://{bucket}/checkpoints/{name}",
            hyperparameters={"total_steps": "12", "seconds_per_step": "0.25",
                             "checkpoint_interval": "2"},
            tags={"smemu:interrupt": "checkpoint=1/hard checkpoint=1/hard"}))
    for name in names:
        job = wait_job(sagemaker, name, poll=0.2)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return time.monotonic() - started


def concurrency(ep: Endpoint, bucket: str, out: Lines) -> None:
    times: dict[int, list[float]] = {n: [] for n in CONCURRENCY}
    for n in range(REPEAT):
        for count in rotated(CONCURRENCY, n):
            times[count].append(concurrent_jobs(ep, bucket, count))
    one = median(times[1])
    for count in CONCURRENCY:
        wall = median(times[count])
        target = "anchor" if count == 1 else \
            ("<= 3x: " + ("met" if wall / one <= 3 else "NOT met") if count == 8 else "")
        out.append(f"| {count} concurrent spot jobs, 2 interruptions each, {ep.backend} "
                   f"| smemu | {wall:.2f} s | {runs(times[count])} | {wall / one:.2f} "
                   f"| {target} |")


# -- S3 through the endpoint's port -----------------------------------------------------------
def s3_through_port(ep: Endpoint, direct: DirectS3, data: tuple[Path, Path], out: Lines) -> None:
    big, many = data
    for url in (ep.url, direct.url):
        tools.aws(url, "mb", "s3://bench-s3")
    cases = {f"aws s3 cp ({big.stat().st_size // MiB} MiB file)": lambda url, n: tools.aws(
                 url, "cp", str(big), f"s3://bench-s3/cp-{n}/big.bin"),
             f"aws s3 sync ({S3_FILES} x 64 KiB)": lambda url, n: tools.aws(
                 url, "sync", str(many), f"s3://bench-s3/sync-{n}/")}
    for case, run in cases.items():
        times: dict[str, list[float]] = {"endpoint": [], "direct": []}
        for n in range(REPEAT):
            for which in rotated(["endpoint", "direct"], n):
                measure = run(ep.url if which == "endpoint" else direct.url, n)
                if not measure.ok:
                    raise RuntimeError(f"{case} via {which}: {measure.detail}")
                times[which].append(measure.seconds)
        ours, anchor = median(times["endpoint"]), median(times["direct"])
        verdict = "met" if ours / anchor <= 1.10 else "NOT met"
        out.append(f"| {case}, {ep.backend} | endpoint port / {direct.name} | {ours:.2f} s / "
                   f"{anchor:.2f} s | {runs(times['endpoint'])} / {runs(times['direct'])} "
                   f"| {ours / anchor:.2f} | <= 1.10: {verdict} |")


def _s3_data(root: Path) -> tuple[Path, Path]:
    big = root / "big.bin"
    with big.open("wb") as fh:
        for _ in range(max(1, int(128 * SCALE))):
            fh.write(os.urandom(MiB))
    many = root / "many"
    many.mkdir()
    for n in range(S3_FILES):
        (many / f"f{n:04d}.bin").write_bytes(os.urandom(64 * 1024))
    return big, many


def run_backend(backend: str, tmp: Path, data: tuple[Path, Path], out: Lines,
                full: bool) -> None:
    ep, direct = Endpoint(tmp / f"ep-{backend}", backend), DirectS3(tmp / f"d-{backend}", backend)
    with ep, direct:
        ep.client("s3").create_bucket(Bucket="bench-e2e")
        # (what, the BENCH_E2E_PHASES names that select it, the phase)
        phases: list[tuple[str, set[str], Callable[[], None]]] = [
            ("trivial job", {"trivial job"}, lambda: trivial_job(ep, "bench-e2e", out))]
        if full:
            phases += [
                ("CreateTrainingJob", {"CreateTrainingJob"},
                 lambda: create_latency(ep, "bench-e2e", out)),
                ("interruptions", {"interruptions", "proof"},  # the proof: the same jobs
                 lambda: interruptions(ep, "bench-e2e", out, gaps=_wanted({"interruptions"}),
                                       proofs=_wanted({"proof"}))),
                ("concurrency", {"concurrency"}, lambda: concurrency(ep, "bench-e2e", out))]
        phases.append(("S3 port", {"S3 port"}, lambda: s3_through_port(ep, direct, data, out)))
        for what, names, phase in phases:
            if not _wanted(names):
                continue
            began, rows = time.monotonic(), len(out)
            print(f"-- {backend}: {what}", flush=True)
            try:
                phase()
            except Exception as err:  # the other figures still count
                out.append(f"| {what}, {backend} | failed | {type(err).__name__}: "
                           f"{str(err)[:150]} | | | |")
            print("\n".join(out[rows:]), f"({time.monotonic() - began:.0f} s)", flush=True)


def _wanted(names: set[str]) -> bool:
    return not PHASES or bool(names & set(PHASES))


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="smemu-bench-e2e-", dir="/tmp"))
    started = time.monotonic()
    out: Lines = []
    try:
        data = _s3_data(tmp)
        for number, backend in enumerate(BACKENDS):
            run_backend(backend, tmp, data, out, full=number == 0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()
    text = "\n".join([
        "# End-to-end benchmark (python -m bench e2e)", "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')} — {machine()}; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other work on the machine).",
        f"Each figure: the median of {REPEAT} interleaved repetitions (BENCH_REPEAT), against "
        "its anchor measured in the same rounds. The full set runs on the first backend "
        f"({BACKENDS[0]}); the trivial job and S3 through the port on each.", "",
        "| figure | ours | seconds (median) | runs | ratio / difference | target |",
        "|---|---|---|---|---|---|", *out, "",
        f"Total run time: {time.monotonic() - started:.0f} s.", ""])
    print("\n" + text)
    if SCALE == 1.0 and not PHASES:
        (Path(__file__).parent / "results-e2e.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
