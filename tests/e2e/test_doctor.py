"""`smemu doctor` as a user runs it: all well against a running endpoint, and one clear line
with its fix when the endpoint is down, when Docker does not answer, and when an image is
missing. Real endpoint, real Docker, the CLI as a subprocess."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess, free_port

pytestmark = pytest.mark.docker


def lines_of(output: str) -> dict[str, str]:
    """{check: its line} of doctor's output."""
    found = {}
    for line in output.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and parts[0] in ("ok", "FAIL", "skip"):
            found[parts[1]] = line
    return found


def test_doctor_against_a_running_endpoint(endpoint: EndpointProcess) -> None:
    done = smemu("doctor", "--endpoint-url", endpoint.url)
    checks = lines_of(done.stdout)
    assert list(checks) == ["docker", "images", "endpoint", "auth", "s3", "state", "inotify",
                            "loopback"], done.stdout
    for name in ("docker", "endpoint", "s3", "loopback"):
        assert checks[name].startswith("ok "), checks[name]
    assert endpoint.url in checks["endpoint"]
    # Exit code 0 exactly when no check failed.
    failed = [line for line in checks.values() if line.startswith("FAIL")]
    assert done.returncode == (1 if failed else 0), done.stdout
    as_json = json.loads(smemu("doctor", "--endpoint-url", endpoint.url, "--json").stdout)
    assert as_json["ok"] == (not failed)
    assert [c["check"] for c in as_json["checks"]] == list(checks)


def test_doctor_with_the_endpoint_down(tmp_path: Path) -> None:
    port = free_port()
    done = smemu("doctor", "--port", str(port), env={**os.environ,
                                                      "SMEMU_STATE_DIR": str(tmp_path)})
    assert done.returncode == 1
    checks = lines_of(done.stdout)
    assert checks["endpoint"].startswith("FAIL")
    assert f"no smemu endpoint answers at http://127.0.0.1:{port}: start it with " \
           f"`smemu up --port {port}`" in checks["endpoint"]
    assert checks["s3"].startswith("skip")


def test_doctor_with_docker_unreachable(tmp_path: Path, endpoint: EndpointProcess) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    done = smemu("doctor", "--endpoint-url", endpoint.url, env=env)
    assert done.returncode == 1
    checks = lines_of(done.stdout)
    assert checks["docker"].startswith("FAIL") and "start it" in checks["docker"]
    assert checks["images"].startswith("skip")
    assert checks["endpoint"].startswith("ok")


def test_doctor_with_an_image_missing(tmp_path: Path, endpoint: EndpointProcess,
                                      docker_client: Any) -> None:
    name = f"doctor-missing-{uuid.uuid4().hex[:8]}"
    (tmp_path / name).mkdir()
    (tmp_path / name / "Dockerfile").write_text("FROM smemu-base:latest\n")
    done = smemu("doctor", "--endpoint-url", endpoint.url,
                 env={**os.environ, "SMEMU_IMAGES_DIR": str(tmp_path)})
    assert done.returncode == 1
    line = lines_of(done.stdout)["images"]
    assert line.startswith("FAIL") and f"smemu-{name}:latest" in line
    assert "make images" in line
