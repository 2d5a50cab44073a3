"""The endpoint's peak memory while a big checkpoint goes up and comes back through it.

    python -m bench rss                       # 2 GiB and 8 GiB checkpoints (make bench)
    BENCH_RSS_GIB=0.25 python -m bench rss    # a quick run with a small one

For each embedded S3 (the disk S3, the default, and moto, `--s3-backend moto`) a real `smemu
serve` is started over a fresh state directory, and for each size one spot job runs on it: its
container writes one checkpoint file of that size into /opt/ml/checkpoints, the endpoint's
mirror uploads it to the endpoint's own S3, the job is interrupted right after that upload
(`smemu:interrupt=checkpoint=1`), and the next attempt starts only once the endpoint has
restored the file from its S3 (its container checks the size, then exits 0). The RSS of the
whole `smemu serve` process tree (psutil, with its children) is sampled every 50 ms from
CreateTrainingJob to the job's end. moto holds objects whole in memory, so it is not given a
checkpoint above BENCH_RSS_MOTO_MAX_GIB (2): it would take the machine down. The table
replaces the "Endpoint RSS" section of bench/results.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.s3_backends import RSS_TARGET, SmemuBackend, write_section
from bench.servers import ACCESS_KEY, SECRET_KEY, Server

MiB = 1024 * 1024
GiB = 1024 * MiB
SIZES_GIB = [float(s) for s in os.environ.get("BENCH_RSS_GIB", "2,8").split(",") if s]
MOTO_MAX_GIB = float(os.environ.get("BENCH_RSS_MOTO_MAX_GIB", "2"))
JOB_TIMEOUT_S = float(os.environ.get("BENCH_RSS_JOB_TIMEOUT_S", "1500"))
SECTION = ("<!-- endpoint-rss:start -->", "<!-- endpoint-rss:end -->")
# Attempt 1 writes the checkpoint and waits for its interruption; attempt 2 finds it restored.
SCRIPT = ('c=/opt/ml/checkpoints/ck.bin; if [ -f $c ]; then s=$(stat -c %s $c); '
          'echo "restored $s"; [ "$s" = "$BYTES" ]; exit $?; fi; '
          'head -c $BYTES /dev/zero >$c.part && mv $c.part $c && echo wrote; '
          "trap 'exit 0' TERM; while :; do sleep 1; done")

@dataclass
class Run:
    backend: str
    gib: float
    status: str = ""
    seconds: float = 0.0
    peak: int = 0
    idle: int = 0
    restored: int | None = None
    note: str = ""


def _client(url: str, service: str) -> Any:
    return boto3.session.Session().client(
        service, endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def _request(name: str, size: int) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "smemu-base:latest",
                                   "TrainingInputMode": "File",
                                   "ContainerEntrypoint": ["sh", "-c", SCRIPT]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://bench-rss/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(JOB_TIMEOUT_S),
                              "MaxWaitTimeInSeconds": int(JOB_TIMEOUT_S) + 600},
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri": f"s3://bench-rss/{name}"},
        "Environment": {"BYTES": str(size)},
        "Tags": [{"Key": "smemu:interrupt", "Value": "checkpoint=1/grace=5s"}],
    }


def _report(url: str, name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_smemu/jobs/{name}", timeout=30) as answer:
        return dict(json.loads(answer.read()))


def run_job(server: Server, run: Run) -> None:
    size = int(run.gib * GiB)
    name = f"rss-{run.backend}-{str(run.gib).replace('.', '-')}g"
    sagemaker = _client(server.url, "sagemaker")
    run.idle = server.rss()
    server.start_sampling()
    begun = time.monotonic()
    try:
        sagemaker.create_training_job(**_request(name, size))
        while time.monotonic() - begun < JOB_TIMEOUT_S:
            job = sagemaker.describe_training_job(TrainingJobName=name)
            if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(1)
        else:
            sagemaker.stop_training_job(TrainingJobName=name)
            job = {"TrainingJobStatus": "timed out", "FailureReason": f"{JOB_TIMEOUT_S:.0f} s"}
    finally:
        run.seconds = time.monotonic() - begun
        run.peak = server.stop_sampling()
    run.status = str(job["TrainingJobStatus"])
    if run.status != "Completed":
        run.note = str(job.get("FailureReason", ""))[:120]
    attempts = _report(server.url, name).get("Attempts", [])
    restored = [f for a in attempts[1:] for f in a.get("CheckpointsRestored", [])
                if f.get("path") == "ck.bin"]
    run.restored = int(restored[-1].get("size") or 0) if restored else None
    if run.status == "Completed" and run.restored != size:
        run.status, run.note = "wrong", f"restored {run.restored} of {size} bytes"


def measure(backend: str, root: Path) -> list[Run]:
    runs = []
    workdir = root / backend
    with SmemuBackend(workdir, backend, backend, whole=backend == "moto") as server:
        _client(server.url, "s3").create_bucket(Bucket="bench-rss")
        for gib in SIZES_GIB:
            run = Run(backend, gib)
            free = shutil.disk_usage(root).free
            if backend == "moto" and gib > MOTO_MAX_GIB:
                run.status, run.note = "not tried", "moto holds the object whole in memory"
            elif free < 3.5 * gib * GiB:  # the written file, its S3 copy, the restored one
                run.status, run.note = "not tried", f"{free / GiB:.0f} GiB free disk"
            else:
                run_job(server, run)
            print(f"  {backend} {gib:g} GiB: {run}", flush=True)
            runs.append(run)
    shutil.rmtree(workdir, ignore_errors=True)
    return runs


def render(runs: list[Run]) -> str:
    lines = ["| embedded S3 | checkpoint | job | peak RSS (MiB) | RSS before (MiB) "
             "| under 512 MiB | job time |",
             "|---|---:|---|---:|---:|---|---:|"]
    for r in runs:
        if r.status == "not tried":
            lines.append(f"| {r.backend} | {r.gib:g} GiB | not tried: {r.note} | | | | |")
            continue
        status = r.status if not r.note else f"{r.status}: {r.note}"
        ok = "yes" if r.status == "Completed" and r.peak < RSS_TARGET else "NO"
        lines.append(f"| {r.backend} | {r.gib:g} GiB | {status} | {r.peak / MiB:,.0f} | "
                     f"{r.idle / MiB:,.0f} | {ok} | {r.seconds:.0f} s |")
    return "\n".join(lines)


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the servers' context managers: none is left


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    root = Path(tempfile.mkdtemp(prefix="smemu-bench-rss-", dir="/tmp"))
    started = time.monotonic()
    runs: list[Run] = []
    try:
        for backend in ("disk", "moto"):
            print(f"smemu serve --s3-backend {backend} ...", flush=True)
            runs += measure(backend, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    body = "\n".join([
        "## Endpoint RSS (python -m bench rss)", "",
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; one spot job per row on a real `smemu serve`: "
        "its container writes one checkpoint of that size, the endpoint uploads it to its own "
        "S3, the job is interrupted after that upload, and the endpoint restores it for the "
        "next attempt. Peak RSS of the whole `smemu serve` process tree (with children), "
        "sampled every 50 ms from CreateTrainingJob to the job's end. "
        f"Run time {time.monotonic() - started:.0f} s. Other work may be running on the "
        "machine.", "", render(runs)])
    print("\n" + body)
    if SIZES_GIB == [2.0, 8.0]:
        write_section(body, markers=SECTION)
    return 0 if all(r.status in ("Completed", "not tried") for r in runs
                    if r.backend == "disk") else 1
