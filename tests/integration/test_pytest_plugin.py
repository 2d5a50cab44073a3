"""The smemu pytest plugin with real jobs: examples/test_my_training_resumes.py (a user's test
file, written from the README) run by a pytest of its own, against a trainer that resumes and
one that restarts from scratch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulator.testing import Endpoint
from tests.support.endpoint import TOY_IMAGE

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "test_my_training_resumes.py"
PLUGIN = ("-p", "no:smemu", "-p", "emulator.pytest_plugin")  # this tree's plugin
FAST = {"total_steps": 30, "seconds_per_step": 0.1, "checkpoint_interval": 5}


@pytest.fixture()
def user_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyfile(test_my_training_resumes=EXAMPLE.read_text())
    monkeypatch.setenv("TRAINING_IMAGE", TOY_IMAGE)
    return pytester


@pytest.fixture(scope="module")
def running_endpoint(docker_client: Any) -> Iterator[Endpoint]:
    """An endpoint someone else runs (as `smemu up` would), for --smemu-endpoint-url."""
    with Endpoint(grace_period=20) as endpoint:
        yield endpoint


def test_the_example_passes_for_a_trainer_that_resumes(user_suite: pytest.Pytester,
                                                       tmp_path: Path) -> None:
    kept = tmp_path / "reports"
    result = user_suite.runpytest_subprocess(*PLUGIN, "--smemu-grace-period=20",
                                             f"--smemu-report-dir={kept}")

    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=2)
    assert not kept.exists()  # reports are kept for failed tests only


def test_the_example_fails_clearly_for_a_trainer_that_restarts_from_scratch(
        user_suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        running_endpoint: Endpoint) -> None:
    monkeypatch.setenv("TRAINING_HYPERPARAMETERS", json.dumps({**FAST,
                                                               "ignore_checkpoints": "true"}))
    kept = tmp_path / "reports"
    result = user_suite.runpytest_subprocess(
        *PLUGIN, f"--smemu-endpoint-url={running_endpoint.url}", f"--smemu-report-dir={kept}",
        "-k", "after_a_spot_interruption")

    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines([
        "E*AssertionError: smemu-toy-trainer-*: attempt 2 restarted from scratch: it never read "
        "the restored checkpoint.json (load the checkpoint from the checkpoint directory "
        "before training)",
        "*- smemu jobs -*",
        "smemu-toy-trainer-*: Completed",
        "  attempt 1: interrupted (fresh-start)*",
        "  attempt 2: completed (restarted-from-scratch); restarted from scratch: none of the "
        "restored checkpoint files was read",
        f"job reports kept in {kept}*"])
    (directory,) = kept.iterdir()
    reports = sorted(directory.glob("*.json"))
    assert len(reports) == 1
    doc = json.loads(reports[0].read_text())
    assert doc["DescribeTrainingJob"]["TrainingJobStatus"] == "Completed"
    assert [a["Resume"] for a in doc["SmemuReport"]["Attempts"]] == [
        "fresh-start", "restarted-from-scratch"]
    log = reports[0].with_suffix(".log").read_text()
    assert log.count("starting from scratch at step 0") == 2
    # The job ran on the endpoint given, and the plugin's isolation forgot it after the test.
    name = reports[0].stem
    sagemaker = running_endpoint.client("sagemaker")
    with pytest.raises(sagemaker.exceptions.ClientError, match="Requested resource not found"):
        sagemaker.describe_training_job(TrainingJobName=name)
    assert running_endpoint.s3_client().list_objects_v2(
        Bucket="sagemaker-us-east-1-123456789012", Prefix=f"checkpoints/{name}/")["KeyCount"]
