"""emulator.testing's pure parts: the request it builds, the readiness wait, the result model."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

from emulator.errors import PlanError
from emulator.testing import (
    AttemptResult,
    EndpointStartError,
    training_request,
    unique_job_name,
    wait_until,
)

LIBRARY = Path(__file__).resolve().parents[2] / "emulator" / "testing"


def test_the_library_never_imports_pytest_or_click() -> None:
    for path in LIBRARY.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert name.split(".")[0] not in {"pytest", "_pytest", "click"}, path.name
                assert not name.startswith("emulator.cli"), path.name


def test_request_defaults_are_a_spot_job_with_its_own_checkpoint_prefix() -> None:
    request = training_request("registry/team/my-trainer:1.2", hyperparameters={"epochs": 3})
    name = request["TrainingJobName"]
    assert name.startswith("my-trainer-") and len(name) == len("my-trainer-") + 8
    assert request["EnableManagedSpotTraining"] is True
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 900,
                                            "MaxWaitTimeInSeconds": 900}
    assert request["HyperParameters"] == {"epochs": "3"}  # SageMaker's values are strings
    assert request["CheckpointConfig"] == {
        "S3Uri": f"s3://sagemaker-us-east-1-123456789012/checkpoints/{name}/"}
    assert "Tags" not in request
    assert training_request("t:1")["TrainingJobName"] != training_request("t:1")[
        "TrainingJobName"]


def test_request_carries_the_plan_and_grace_period_as_tags() -> None:
    request = training_request("t:1", interrupt=["checkpoint=1", "after=30s/grace=5s"],
                               grace_period=0, Tags=[{"Key": "team", "Value": "ml"}])
    assert request["Tags"] == [
        {"Key": "smemu:interrupt", "Value": "checkpoint=1 after=30s/grace=5s"},
        {"Key": "smemu:grace-period", "Value": "0s"},
        {"Key": "team", "Value": "ml"},
    ]
    assert training_request("t:1", interrupt="start checkpoint=2")["Tags"][0]["Value"] == \
        "start checkpoint=2"


def test_request_overrides_merge_replace_and_remove() -> None:
    request = training_request(
        "t:1", name="fixed", spot=False, checkpoint_s3_uri="s3://b/c",
        StoppingCondition={"MaxRuntimeInSeconds": 60}, Environment={"A": "1"},
        ResourceConfig={"InstanceType": "ml.c5.xlarge"}, OutputDataConfig=None)
    assert request["TrainingJobName"] == "fixed"
    assert "EnableManagedSpotTraining" not in request
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}
    assert request["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1,
                                         "VolumeSizeInGB": 30}
    assert request["Environment"] == {"A": "1"}
    assert request["CheckpointConfig"] == {"S3Uri": "s3://b/c"}
    assert "OutputDataConfig" not in request


def test_request_refuses_an_interruption_without_spot_and_a_bad_trigger() -> None:
    with pytest.raises(ValueError, match="interrupt= needs a managed spot job"):
        training_request("t:1", interrupt=["checkpoint=1"], spot=False)
    with pytest.raises(PlanError):
        training_request("t:1", interrupt=["sometime"])


def test_unique_job_names_fit_the_name_pattern() -> None:
    name = unique_job_name("x" * 80 + "_y:latest")
    assert len(name) <= 63 and name.replace("-", "").isalnum()
    assert unique_job_name("___:1").startswith("smemu-")


def test_wait_until_returns_the_first_answer_or_none() -> None:
    answers = iter([None, None, "ready"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"
    calls = itertools.count()

    def never() -> None:
        next(calls)

    assert wait_until(never, timeout=0.05, interval=0.01) is None
    assert next(calls) >= 2  # it kept probing until the time ran out
    calls = itertools.count()
    assert wait_until(never, timeout=60, interval=0, dead=lambda: True) is None
    assert next(calls) == 1  # gave up after the first probe, not after 60 s


def test_start_error_ends_with_the_end_of_the_log() -> None:
    log = "x" * 10000 + "\nTraceback: the real reason"
    err = EndpointStartError("`smemu serve` exited with status 2", log)
    assert str(err).startswith("`smemu serve` exited with status 2\n--- endpoint log (last ")
    assert str(err).endswith("Traceback: the real reason")
    assert err.log == log
    assert str(EndpointStartError("no log")) == "no log"


def test_attempt_result_reads_the_report_including_each_hosts_view() -> None:
    attempt = AttemptResult.from_report({
        "Attempt": 2, "Outcome": "completed", "Resume": "resumed",
        "LostTrainingSeconds": None, "Flags": ["f"], "SigKilled": False, "ExitCode": 0,
        "CheckpointsRestored": [{"path": "a.json", "size": 3, "sha256": "ab", "at": 1.5}],
        "CheckpointsUploaded": [], "RestoredFilesRead": ["a.json"],
        "Hosts": [{"Attempt": 2, "Host": "algo-1", "Resume": "resumed",
                   "CheckpointsRestored": [{"path": "a.json", "size": 3, "host": "algo-1"}]}],
        "OverwriteConflicts": ["a.json"],
    })
    assert (attempt.number, attempt.outcome, attempt.resume) == (2, "completed", "resumed")
    assert attempt.flags == ("f",) and attempt.restored_read == ("a.json",)
    assert attempt.restored[0].path == "a.json" and attempt.restored[0].sha256 == "ab"
    assert attempt.hosts[0].host == "algo-1"
    assert attempt.hosts[0].restored[0].host == "algo-1"
    assert attempt.overwrite_conflicts == ("a.json",)
    assert attempt.report["ExitCode"] == 0
