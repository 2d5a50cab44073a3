"""What `smemu run` sends, counted in a real endpoint's access log (`smemu serve --verbose`,
signatures checked: `--auth`) and in the command's own botocore session: one health check (it
was asked twice: once to find the endpoint, once for its S3); for a bucket that is there one
signed HEAD and no S3 client (the command never imports boto3); and no DescribeTrainingJob
without a wait for the job's change before it (the endpoint's long-poll, GET
/_smemu/jobs/NAME/changes) but the first. Its SageMaker client is made from the trimmed model the
command wrote to its cache (emulator.cli.botocore_models), and botocore's whole one is never
parsed (the instance type is checked against the trimmed model's enum)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulator.cli.botocore_models import CLI_OPERATIONS
from emulator.testing import Endpoint
from tests.support.endpoint import TOY_IMAGE

pytestmark = pytest.mark.docker
KEYS = "AKIDRUNREQUESTS:run-requests-secret"

# `smemu run` with every SageMaker call it makes named on stderr at its exit, and the operations
# of the model each was made with.
COUNTING_SMEMU = (
    "import atexit, sys\n"
    "from emulator.cli.botocore_models import cli_session\n"
    "calls, models = [], set()\n"
    "def count(model, **_):\n"
    "    calls.append(model.name)\n"
    "    models.add(tuple(model.service_model.operation_names))\n"
    "cli_session().register('before-call.sagemaker', count)\n"
    "atexit.register(lambda: print('SAGEMAKER CALLS:', *calls, file=sys.stderr))\n"
    "atexit.register(lambda: print('MODELS:', *map(','.join, models), file=sys.stderr))\n"
    "def full_sessions():\n"  # the endpoint's session, with botocore's whole SageMaker model
    "    validation = sys.modules.get('emulator.validation')\n"
    "    return validation.botocore_session.cache_info().currsize if validation else 0\n"
    "atexit.register(lambda: print('FULL SESSIONS:', full_sessions(), file=sys.stderr))\n"
    "from emulator.cli import main\n"
    "sys.argv = ['smemu', *sys.argv[1:]]\n"
    "main()\n")


def _requests(log: str) -> list[str]:
    """The request lines and their status ("GET /path HTTP/1.1 200") of the access log."""
    return [" ".join((line.split('"')[1], line.split('"')[2].split()[0]))
            for line in log.splitlines()
            if "emulator.server.access" in line and line.count('"') >= 2]


def test_run_sends_what_it_needs_and_waits_for_each_change(tmp_path: Path, docker_client: Any,
                                                           job_name: str) -> None:
    with Endpoint(state_dir=tmp_path / "state", serve_args=["--verbose"], auth=KEYS) as endpoint:
        bucket = f"test-{uuid.uuid4().hex[:12]}"
        endpoint.client("s3").create_bucket(Bucket=bucket)
        before = len(endpoint.log_text())
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", COUNTING_SMEMU, "run",
             "--endpoint-url", endpoint.url, "--auth", KEYS, "--image", TOY_IMAGE,
             "--job-name", job_name,
             "--no-logs", "--output-path", f"s3://{bucket}/output",
             "-H", "total_steps=1", "-H", "seconds_per_step=0"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"Job {job_name}: Completed" in result.stdout
        sent = _requests(endpoint.log_text()[before:])
    assert sent.count("GET /_smemu/health HTTP/1.1 200") == 1, sent
    assert sent.count(f"HEAD /{bucket} HTTP/1.1 200") == 1, sent  # signed as S3 wants
    assert not any(f"PUT /{bucket} " in line for line in sent)  # there: not created again
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "botocore.session" in imported  # -X importtime did list the imports
    assert not {"boto3", "s3transfer"} & imported, "an S3 client was made for the check"

    waits = [int(m[1]) for line in sent if (m := re.match(
        rf"GET /_smemu/jobs/{job_name}/changes\?after=(\d+)&\S+ HTTP/1.1 200$", line))]
    assert waits and waits == sorted(waits), sent  # each after the count it was last given
    calls = next(line for line in result.stderr.splitlines()
                 if line.startswith("SAGEMAKER CALLS:")).split()[2:]
    assert calls[0] == "CreateTrainingJob" and set(calls[1:]) == {"DescribeTrainingJob"}
    assert len(calls) - 1 <= len(waits) + 1, (calls, waits)
    models = next(line for line in result.stderr.splitlines()
                  if line.startswith("MODELS:")).split()[1:]
    assert models == [",".join(sorted(CLI_OPERATIONS))]  # every call: the trimmed model's
    assert "FULL SESSIONS: 0" in result.stderr.splitlines()  # nor parsed for anything else
    assert list((tmp_path / "cache" / "smemu" / "botocore-models").glob(
        "*/sagemaker/*/service-2.json")), "the trimmed model was not written to the cache"
