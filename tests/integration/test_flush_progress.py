"""The flush of a large checkpoint at an interruption (real Docker): the report's CheckpointFlush
counts it, and `smemu run` draws it as a live bar on a terminal, plain lines when piped."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulator.checkpoints.progress import DEFAULT_THRESHOLD
from tests.support.endpoint import EndpointProcess, toy_request
from tests.support.terminal import run_in_terminal

pytestmark = pytest.mark.docker

MiB = 1024 * 1024
CKPT = "/opt/ml/checkpoints"
# 350 MiB: its upload outlasts the follow loop's polls. Each file is over the 64 MiB the
# progress is shown from, so even a flush left with one file to send (the mirror got the
# others out before the kill, as on a loaded machine) is shown.
FILES, FILE_MIB = 5, 70
assert FILE_MIB * MiB > DEFAULT_THRESHOLD
# Attempt 1 closes the files and says GO-NOW (the trigger: SIGKILL at once) 0.3 s later, before
# the mirror is done uploading them (the endpoint sees the closes, then the flush sends what is
# left). Attempt 2 finds them restored and ends.
SCRIPT = f"""
if [ -f {CKPT}/part-{FILES - 1}.bin ]; then echo "resumed"; exit 0; fi
for i in $(seq 0 {FILES - 1}); do head -c {FILE_MIB * MiB} /dev/zero > {CKPT}/part-$i.bin; done
sleep 0.3; echo GO-NOW; exec sleep 60
"""
DONE = (r"Flushing checkpoints: done, (\d+) of \1 files, (\d+\.\d) MiB of \2 MiB "
        r"in \d+\.\d s")


def request_file(tmp_path: Path, bucket: str, name: str) -> Path:
    """A request of its own per job: each job its own checkpoint prefix (nothing to restore)."""
    request = toy_request(name, checkpoint_uri=f"s3://{bucket}/{name}/", bucket=bucket)
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": ["sh", "-c", 'eval "$SCRIPT"']}
    request["Environment"] = {"SCRIPT": SCRIPT}
    request.pop("HyperParameters")
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(request))
    return path


def flushed(report: dict[str, Any]) -> dict[str, Any]:
    first = report["Attempts"][0]
    assert first["Outcome"] == "interrupted" and first["SigKilled"], first
    return dict(first["CheckpointFlush"])


def test_the_flush_at_an_interruption_is_a_bar_on_a_terminal_and_plain_lines_piped(
        endpoint: EndpointProcess, bucket: str, job_name: str, tmp_path: Path) -> None:
    def args(name: str) -> list[str]:
        return [sys.executable, "-m", "emulator", "run", "--endpoint-url", endpoint.url,
                "--request", str(request_file(tmp_path, bucket, name)), "--spot",
                "--interrupt", "log=GO-NOW/hard", "--job-name", name,
                # Uploads held to 50 MiB/s: each file takes over a second, so the mirror cannot
                # get them all out before the kill however fast the machine, and the flush
                # lasts past the follow loop's 0.5 s polls (its bar is seen under way).
                "--s3-faults", "bandwidth=50MiB/s"]

    code, shown = run_in_terminal(args(job_name))
    assert code == 0, shown
    flush = flushed(endpoint.report(job_name))
    # Everything the kill left pending was sent by the flush, and counted.
    assert flush["BytesDone"] == flush["BytesTotal"] > 0 and flush["EndedAt"] is not None
    assert flush["FilesDone"] == flush["FilesTotal"] >= 1
    total_mb = f"{flush['BytesTotal'] / 1e6:.1f} MB"
    assert "\x1b[" in shown and "Flushing checkpoints" in shown, shown
    assert f"/{total_mb}" in shown, shown  # the live bar's byte column: seen under way
    assert len(re.findall(DONE, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown))) == 1, shown

    piped = subprocess.run(args(f"{job_name}-piped"), capture_output=True,
                           text=True, timeout=300, env=dict(os.environ))
    assert piped.returncode == 0, piped.stdout + piped.stderr
    assert "\x1b[" not in piped.stdout + piped.stderr
    lines = [line for line in piped.stdout.splitlines() if "Flushing checkpoints" in line]
    assert lines and re.fullmatch(rf"    {DONE}", lines[-1]), piped.stdout
    assert all(line.startswith("    Flushing checkpoints: ") for line in lines), lines
    assert flushed(endpoint.report(f"{job_name}-piped"))["FilesTotal"] >= 1

    quiet = subprocess.run([*args(f"{job_name}-json"), "--json"],
                           capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    described = json.loads(quiet.stdout)  # nothing but the JSON on stdout
    assert described["SmemuReport"]["Attempts"][0]["CheckpointFlush"]["BytesTotal"] > 0
