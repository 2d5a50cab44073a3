"""What the CLI and the endpoint print, as a user sees it: pipes, hints, access logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator import contract
from emulator.cli.clients import ensure_endpoint
from emulator.errors import EndpointUnavailable
from tests.support.endpoint import EndpointProcess, free_port

pytestmark = pytest.mark.docker

ACCESS_LINE = '"GET /_smemu/health HTTP/1.1" 200'


def test_a_reader_that_goes_away_ends_the_command_quietly(endpoint: EndpointProcess) -> None:
    """`smemu jobs list | head -1`: no "Broken pipe" message once the reader is gone."""
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", "jobs", "list", "--endpoint-url", endpoint.url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()  # long before the command writes its first line
    _, stderr = process.communicate(timeout=120)
    assert stderr.decode() == ""
    assert process.returncode == 1


def test_the_start_hint_quotes_the_whole_command() -> None:
    port = free_port()
    with pytest.raises(EndpointUnavailable) as caught:
        ensure_endpoint(f"http://127.0.0.1:{port}", start=False)
    assert str(caught.value).endswith(f"Start one with `smemu up --port {port}`")


def test_run_says_once_which_running_endpoint_it_uses(endpoint: EndpointProcess,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    # The session endpoint stands in for the default local one (4590 may be a user's).
    monkeypatch.setattr(contract, "DEFAULT_PORT", int(endpoint.url.rsplit(":", 1)[1]))
    monkeypatch.delenv("SMEMU_ENDPOINT_URL", raising=False)
    assert ensure_endpoint(None) == endpoint.url
    assert capsys.readouterr().err == f"Using the running endpoint on {endpoint.url}\n"
    # A URL the user gave is no news; nor is it for the commands that never start one.
    ensure_endpoint(endpoint.url)
    ensure_endpoint(None, start=False)
    assert capsys.readouterr().err == ""


def test_serve_logs_requests_only_when_verbose(endpoint: EndpointProcess,
                                               tmp_path: Path) -> None:
    # The session endpoint has answered many requests by now, none of them in its log.
    assert endpoint.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] is not None
    assert "/_smemu/health" not in endpoint.log_text()
    assert "HTTP/1.1" not in endpoint.log_text()
    with EndpointProcess(tmp_path / "state", "--verbose") as verbose:
        verbose.client("sagemaker").list_training_jobs()
    log = verbose.log_text()
    assert ACCESS_LINE in log
    assert '"POST / HTTP/1.1" 200' in log
