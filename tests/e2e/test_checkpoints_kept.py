"""With the default embedded S3 (disk), a job's checkpoints and every one of their versions
outlive `smemu down` / `smemu up` and an endpoint killed with SIGKILL: `smemu checkpoints ls
--versions` lists the same versions afterwards, `get` fetches an old one, and an object stored
just before the kill is there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from emulator.storage.backends import BACKEND_ENV, s3_root
from tests.support.endpoint import CREDENTIALS, free_port, toy_request, wait_for_job

pytestmark = pytest.mark.docker


class Smemu:
    """The `smemu` CLI with its own state directory, and clients of its endpoint on `port`."""

    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {k: v for k, v in os.environ.items() if k != BACKEND_ENV}  # the default
        self.env["SMEMU_STATE_DIR"] = str(state)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                              text=True, timeout=180, env=self.env)

    def ok(self, *args: str) -> str:
        done = self(*args)
        assert done.returncode == 0, f"smemu {' '.join(args)}: {done.stderr}"
        return done.stdout

    def up(self) -> None:
        self.ok("up", "--port", str(self.port), "--grace-period", "10s")

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service, endpoint_url=self.url, region_name="us-east-1", **CREDENTIALS,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))

    def versions(self, job: str) -> list[dict[str, Any]]:
        listed = self.ok("checkpoints", "ls", job, "--versions", "--json",
                         "--endpoint-url", self.url)
        return list(json.loads(listed)["Versions"])

    def pid(self) -> int:
        record = json.loads((self.state / f"endpoint-{self.port}.json").read_text())
        return int(record["pid"])


def _gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_checkpoint_versions_outlive_down_up_and_a_sigkill(tmp_path: Path,
                                                           docker_client: Any) -> None:
    smemu = Smemu(tmp_path / "state", free_port())
    smemu.up()
    try:
        health = json.loads(smemu.ok("status", "--port", str(smemu.port), "--json"))
        assert health["s3_backend"] == "disk", health
        s3 = smemu.client("s3")
        s3.create_bucket(Bucket="kept")
        sagemaker = smemu.client("sagemaker")
        sagemaker.create_training_job(**toy_request(
            "kept-ckpt", steps=40, checkpoint_uri="s3://kept/ckpt", bucket="kept",  # 12 s
            tags=[{"Key": "smemu:interrupt", "Value": "after=1.5s"}],
            seconds_per_step="0.3", checkpoint_interval="3"))
        job = wait_for_job(sagemaker, "kept-ckpt")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        before = smemu.versions("kept-ckpt")
        ckpt = [v for v in before if v["Path"] == "checkpoint.json" and not v["DeleteMarker"]]
        assert len(ckpt) >= 3 and {v["Attempt"] for v in ckpt} == {1, 2}, before
        oldest = json.loads(smemu.ok("checkpoints", "get", "kept-ckpt", "checkpoint.json",
                                     "--version", ckpt[0]["VersionId"],
                                     "--endpoint-url", smemu.url))

        smemu.ok("down", "--port", str(smemu.port))
        assert (s3_root(smemu.state, smemu.port) / "index.sqlite3").exists()
        smemu.up()
        assert smemu.versions("kept-ckpt") == before
        again = json.loads(smemu.ok("checkpoints", "get", "kept-ckpt", "checkpoint.json",
                                    "--version", ckpt[0]["VersionId"],
                                    "--endpoint-url", smemu.url))
        assert again == oldest

        smemu.client("s3").put_object(Bucket="kept", Key="ckpt/late.bin", Body=b"late")
        pid = smemu.pid()
        os.kill(pid, signal.SIGKILL)  # no shutdown: what was acknowledged must be on disk
        assert _gone(pid)
        smemu.up()
        after = smemu.versions("kept-ckpt")
        assert [v for v in after if v["Path"] != "late.bin"] == before
        assert [v["Path"] for v in after if v["Path"] == "late.bin"] == ["late.bin"]
        body = smemu.client("s3").get_object(Bucket="kept", Key="ckpt/late.bin")["Body"].read()
        assert body == b"late"
    finally:
        smemu("down", "--port", str(smemu.port))
