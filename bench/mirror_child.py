"""One measurement of our engine in its own process, so its peak RSS is its own.

    python -m bench.mirror_child upload  SRC URI ENDPOINT   # rename SRC into a watched dir
    python -m bench.mirror_child restore URI DEST ENDPOINT
    python -m bench.mirror_child latency URI ENDPOINT COUNT SIZE

Prints one JSON object: seconds, files, bytes, baseline and peak RSS (bytes), latencies, and
the CPU time this process used while timed. The blob store comes from ``S3Endpoint``
configured by BENCH_WHOLE_OBJECT (1: one request per object, as the endpoint configures its
embedded S3, moto).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.servers import ACCESS_KEY, SECRET_KEY
from emulator.checkpoints import CheckpointMirror, MirrorEvent, restore
from emulator.storage.blobstore import BlobStore
from emulator.storage.s3 import S3Endpoint


def _store(endpoint: str) -> BlobStore:
    return S3Endpoint(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
                      whole_object=os.environ.get("BENCH_WHOLE_OBJECT") == "1").blob_store()


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _count(src: Path) -> tuple[int, int]:
    if src.is_file():
        return 1, src.stat().st_size
    files = [p for p in src.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def upload(src: Path, uri: str, endpoint: str) -> dict[str, Any]:
    """Time from renaming ``src`` into the watched directory to its last byte in S3."""
    store = _store(endpoint)
    files, size = _count(src)
    watched = src.parent / f"watched-{os.getpid()}"
    watched.mkdir()
    done = threading.Event()
    uploaded: set[str] = set()
    lock = threading.Lock()

    def on_event(event: MirrorEvent) -> None:
        with lock:
            if event.kind == "uploaded":
                uploaded.add(event.path)  # a set: the callback stays O(1) per event
                if len(uploaded) >= files:
                    done.set()
            elif event.kind == "error":
                print(f"mirror error: {event.message}", file=sys.stderr)

    baseline = psutil.Process().memory_info().rss
    mirror = CheckpointMirror(watched, uri, store, on_event=on_event)
    mirror.start()
    started, cpu = time.monotonic(), time.process_time()
    target = watched / src.name
    os.rename(src, target)
    finished = done.wait(timeout=900)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    report = mirror.stop(flush=True)
    os.rename(target, src)
    watched.rmdir()
    return {"seconds": seconds, "files": files, "bytes": size, "ok": finished and report.ok,
            "errors": report.errors[:3], "baseline_rss": baseline, "peak_rss": _peak_rss(),
            "cpu": cpu}


def do_restore(uri: str, dest: Path, endpoint: str) -> dict[str, Any]:
    store = _store(endpoint)
    baseline = psutil.Process().memory_info().rss
    started, cpu = time.monotonic(), time.process_time()
    report = restore(store, uri, dest)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    return {"seconds": seconds, "files": len(report.files), "bytes": report.total_bytes,
            "ok": True, "baseline_rss": baseline, "peak_rss": _peak_rss(), "cpu": cpu}


def latency(uri: str, endpoint: str, count: int, size: int, workdir: Path) -> dict[str, Any]:
    """Write ``count`` files of ``size`` bytes one by one; close() to upload-complete each."""
    store = _store(endpoint)
    watched = workdir / f"latency-{os.getpid()}"
    watched.mkdir()
    closed_at: dict[str, float] = {}
    latencies: list[float] = []
    arrived = threading.Condition()

    def on_event(event: MirrorEvent) -> None:
        if event.kind == "uploaded":
            with arrived:
                if event.path in closed_at:
                    latencies.append(time.time() - closed_at[event.path])
                arrived.notify_all()

    payload = os.urandom(size)
    with CheckpointMirror(watched, uri, store, on_event=on_event):
        for i in range(count):
            name = f"step-{i:05d}.bin"
            with (watched / name).open("wb") as fh:
                fh.write(payload)
                with arrived:
                    closed_at[name] = time.time()  # the close follows immediately
            with arrived:
                arrived.wait_for(functools.partial(_reached, latencies, i + 1), timeout=30)
    for p in watched.iterdir():
        p.unlink()
    watched.rmdir()
    return {"latencies": latencies, "files": count, "bytes": count * size, "ok": True,
            "peak_rss": _peak_rss()}


def _reached(samples: list[float], wanted: int) -> bool:
    return len(samples) >= wanted


def main(argv: list[str]) -> int:
    # Interpreter start and imports, before any timing starts (the endpoint pays them once).
    startup = time.time() - psutil.Process().create_time()
    kind = argv[0]
    if kind == "upload":
        out = upload(Path(argv[1]), argv[2], argv[3])
    elif kind == "restore":
        out = do_restore(argv[1], Path(argv[2]), argv[3])
    elif kind == "latency":
        out = latency(argv[1], argv[2], int(argv[3]), int(argv[4]), Path(argv[5]))
    else:
        raise SystemExit(f"unknown measurement {kind!r}")
    out["startup_s"] = startup
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
