"""Lost work as the report counts it, compared with the container's own log (real Docker).

The container logs when it closed each checkpoint (`date`, the host's clock). Lost training is
from the newest checkpoint that ended up in S3 (a flushed one counts) to the kill.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, job_log, toy_request, wait_for_job

pytestmark = pytest.mark.docker

CKPT = "/opt/ml/checkpoints"
# Attempt 1: trains 4 s, closes small.bin, trains 2 s more, closes a 256 MiB big.bin and says
# "GO-NOW" (the trigger) GO_DELAY later: the kill comes before the mirror has uploaded big.bin
# (with flush, 0.3 s let the endpoint see big.bin's close before the kill: a close it sees only
# after the kill counts as the kernel's, a torn file; with lose, at once: no upload starts).
# Attempt 2: reads what was restored and ends.
CHECKPOINTING = f"""
if [ -f {CKPT}/big.bin ] || [ -f {CKPT}/small.bin ]; then
  head -c 1 {CKPT}/*.bin > /dev/null; echo "resumed with $(ls {CKPT} | tr '\\n' ' ')"; exit 0
fi
sleep 4; echo small > {CKPT}/small.bin; echo "closed small.bin at $(date +%s.%N)"
sleep 2; head -c 268435456 /dev/zero > {CKPT}/big.bin; echo "closed big.bin at $(date +%s.%N)"
sleep $GO_DELAY; echo GO-NOW; exec sleep 60
"""
# Python as PID 1 with no SIGTERM handler: SIGTERM does nothing. Writes no checkpoint.
PID1_PYTHON = "import time; print('training', flush=True); time.sleep(4)"


def shell_job(name: str, bucket: str, script: list[str], *, checkpoints: bool,
              go_delay: str = "0", **tags: str) -> dict[str, Any]:
    request = toy_request(name, checkpoint_uri=f"s3://{bucket}/{name}/" if checkpoints
                          else None, bucket=bucket,
                          tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    request["AlgorithmSpecification"] = {"TrainingImage": "smemu-base:latest",
                                         "TrainingInputMode": "File",
                                         "ContainerEntrypoint": script}
    request["Environment"] = {"SCRIPT": CHECKPOINTING,  # too long for an entrypoint word
                              "GO_DELAY": go_delay}
    return request


def closed_at(lines: list[str], name: str) -> float:
    found = [re.search(rf"closed {re.escape(name)} at (\d+\.\d+)", line) for line in lines]
    return float(next(m for m in found if m).group(1))


def test_a_checkpoint_flushed_after_the_kill_is_not_lost_work(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**shell_job(
        job_name, bucket, ["sh", "-c", 'eval "$SCRIPT"'], checkpoints=True, go_delay="0.3",
        **{"smemu:interrupt": "log=GO-NOW/hard"}))
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    first, second = endpoint.report(job_name)["Attempts"]
    big = [u for u in first["CheckpointsUploaded"] if u["path"] == "big.bin"]
    # The case under test: big.bin reached S3 only by the flush after the kill ...
    assert big and big[-1]["at"] > first["InterruptedAt"]
    # ... and the next attempt resumed from it.
    assert {f["path"] for f in second["CheckpointsRestored"]} == {"small.bin", "big.bin"}
    assert second["Resume"] == "resumed"
    # Lost: from big.bin's close (the container's log) to the kill, not the whole attempt.
    close = closed_at(job_log(endpoint, job_name), "big.bin")
    lost = first["LostTrainingSeconds"]
    assert first["InterruptedAt"] - close - 0.05 <= lost <= first["TrainingEndedAt"] - close + 0.05
    assert lost < first["TrainingSeconds"] - 5  # 6 s of training came before the close
    assert abs(first["LastCheckpointWrittenAt"] - close) < 0.05
    assert not any("keeps no checkpoints" in f for f in first["Flags"])


def test_a_checkpoint_lost_with_the_host_counts_from_the_one_before(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**shell_job(
        job_name, bucket, ["sh", "-c", 'eval "$SCRIPT"'], checkpoints=True,
        **{"smemu:interrupt": "log=GO-NOW/hard", "smemu:checkpoint-flush": "lose"}))
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    first, second = endpoint.report(job_name)["Attempts"]
    assert [u["path"] for u in first["CheckpointsUploaded"]] == ["small.bin"]
    assert [f["path"] for f in second["CheckpointsRestored"]] == ["small.bin"]
    lines = job_log(endpoint, job_name)
    small = closed_at(lines, "small.bin")
    assert closed_at(lines, "big.bin") - small >= 2  # big.bin's 2 s of training are lost too
    lost = first["LostTrainingSeconds"]
    assert first["InterruptedAt"] - small - 0.05 <= lost <= first["TrainingEndedAt"] - small + 0.05


def test_pid1_without_handler_and_no_checkpoints_are_explained(
        endpoint: EndpointProcess, sagemaker: Any, bucket: str, job_name: str) -> None:
    sagemaker.create_training_job(**shell_job(
        job_name, bucket, ["python3", "-c", PID1_PYTHON], checkpoints=True,
        **{"smemu:interrupt": "log=training/grace=1s"}))
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    first, second = endpoint.report(job_name)["Attempts"]
    assert first["SigKilled"] is True  # SIGTERM did nothing to PID 1
    flags = first["Flags"]
    sigterm = next(f for f in flags if f.startswith("ignored SIGTERM"))
    assert "PID 1 without a SIGTERM handler" in sigterm and "tini" in sigterm
    assert "the job keeps no checkpoints: every interruption restarts it from scratch " \
           "(its checkpoint directory stayed empty)" in flags
    assert first["Resume"] == second["Resume"] == "fresh-start"
    assert second["Flags"] == []  # it completed: nothing was lost to an interruption
