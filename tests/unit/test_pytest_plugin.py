"""The smemu pytest plugin without Docker: its registration, options, fixtures' wiring and
override points, run in a pytest of its own (pytester)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[2]
# Loads the plugin from this tree, whether or not an installed smemu's entry point would too.
PLUGIN = ("-p", "no:smemu", "-p", "emulator.pytest_plugin")


def _entry_point() -> str:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return str(pyproject["project"]["entry-points"]["pytest11"]["smemu"])


def test_the_entry_point_names_the_plugin_module() -> None:
    assert _entry_point() == "emulator.pytest_plugin"
    __import__(_entry_point())
    plugin = sys.modules[_entry_point()]
    assert callable(plugin.pytest_addoption)


def test_the_entry_point_autoloads_the_plugin_under_the_name_smemu(
        pytester: pytest.Pytester) -> None:
    # A distribution whose metadata carries pyproject's pytest11 entry point, as pip writes it.
    dist = pytester.mkdir("smemu_entry_point-0.0.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: smemu-entry-point\n"
                                   "Version: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\nsmemu = {_entry_point()}\n")

    shown = pytester.runpytest_subprocess("--help")
    blocked = pytester.runpytest_subprocess("-p", "no:smemu", "--help")

    assert shown.ret == 0
    shown.stdout.fnmatch_lines(["smemu (local SageMaker training emulator):",
                                "*--smemu-endpoint-url=URL*", "*--smemu-report-dir=DIR*"])
    assert "--smemu-endpoint-url" not in blocked.stdout.str()


def test_fixtures_are_listed_with_their_documentation(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*PLUGIN, "--fixtures")

    # Each fixture with its documentation; pytest orders them by "file:line" as text.
    for lines in (["smemu_endpoint [[]session scope[]]*", "*The session's smemu endpoint*"],
                  ["smemu_isolation*"], ["smemu_clients*", "*.sagemaker*"],
                  ["smemu_run*", "*Run a training job on the endpoint*"]):
        result.stdout.fnmatch_lines(lines)


def test_a_test_without_smemu_fixtures_starts_and_imports_nothing(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import sys

        def test_plain():
            assert "emulator.testing" not in sys.modules
            assert not any(m.startswith("boto") for m in sys.modules)
    """)
    result = pytester.runpytest_subprocess(*PLUGIN)
    result.assert_outcomes(passed=1)


def test_fixtures_are_override_points_and_isolation_resets_after_each_test(
        pytester: pytest.Pytester) -> None:
    # A conftest replacing the endpoint: the other fixtures build on whatever it gives.
    pytester.makeconftest("""
        import pytest

        class FakeEndpoint:
            url = "http://fake:1"
            resets = 0
            def client(self, service):
                return ("client", service)
            def s3_client(self):
                return ("s3-of-the-jobs",)
            def reset(self):
                FakeEndpoint.resets += 1
                return {"Removed": [], "Running": []}

        @pytest.fixture(scope="session")
        def smemu_endpoint():
            return FakeEndpoint()
    """)
    pytester.makepyfile("""
        def test_clients(smemu_clients, smemu_endpoint):
            assert smemu_clients.sagemaker == ("client", "sagemaker")
            assert smemu_clients.logs == ("client", "logs")
            assert smemu_clients.s3 == ("s3-of-the-jobs",)
            assert type(smemu_endpoint).resets == 0

        def test_after(smemu_endpoint):
            assert type(smemu_endpoint).resets == 1
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_a_failed_test_reports_its_jobs_and_keeps_them(pytester: pytest.Pytester,
                                                      tmp_path: Path) -> None:
    # smemu_run over a stand-in run_job: the report hook is what is under test here.
    pytester.makeconftest("""
        import pytest
        import emulator.testing as testing
        from emulator.testing import AttemptResult, JobResult

        class FakeEndpoint:
            url = "http://fake:1"
            def reset(self):
                return {}

        def fake_run_job(endpoint, image, **options):
            attempt = {"Attempt": 2, "Outcome": "completed", "Resume": "restarted-from-scratch",
                       "Flags": ["restarted from scratch"]}
            result = JobResult(endpoint, {"TrainingJobName": "job-1",
                                          "TrainingJobStatus": "Completed"},
                               {"Attempts": [attempt]})
            result.logs = lambda: "starting from scratch at step 0"
            return result

        testing.run_job = fake_run_job

        @pytest.fixture(scope="session")
        def smemu_endpoint():
            return FakeEndpoint()
    """)
    pytester.makepyfile("""
        def test_fails(smemu_run):
            smemu_run("my-trainer:latest", interrupt=["checkpoint=1"])
            assert False, "the user's assertion"

        def test_passes(smemu_run):
            smemu_run("my-trainer:latest")
    """)
    kept = tmp_path / "reports"
    result = pytester.runpytest_subprocess(*PLUGIN, f"--smemu-report-dir={kept}")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*- smemu jobs -*",
        "job-1: Completed",
        "  attempt 2: completed (restarted-from-scratch); restarted from scratch",
        f"job reports kept in {kept}*test_fails"])
    (directory,) = kept.iterdir()  # the passing test kept nothing
    assert directory.name.endswith("test_fails")
    assert sorted(p.name for p in directory.iterdir()) == ["job-1.json", "job-1.log"]
    assert "starting from scratch" in (directory / "job-1.log").read_text()
    assert '"Resume": "restarted-from-scratch"' in (directory / "job-1.json").read_text()


def test_smemu_run_has_the_promised_signature_and_passes_everything_on(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest("""
        import pytest
        import emulator.testing as testing

        CALLS = []

        class FakeEndpoint:
            def reset(self):
                return {}

        def fake_run_job(endpoint, image, **options):
            CALLS.append((endpoint, image, options))
            return testing.JobResult(endpoint, {"TrainingJobName": "j"}, {})

        testing.run_job = fake_run_job

        @pytest.fixture(scope="session")
        def smemu_endpoint():
            return FakeEndpoint()
    """)
    pytester.makepyfile("""
        import inspect
        from conftest import CALLS

        def test_signature(smemu_run, smemu_endpoint):
            assert str(inspect.signature(smemu_run)) == (
                "(image: 'str', *, interrupt: 'str | Iterable[str]' = (), "
                "hyperparameters: 'Mapping[str, object] | None' = None, "
                "instance_count: 'int' = 1, spot: 'bool' = True, max_wait: 'int' = 900, "
                "grace_period: 'float | None' = None, checkpoint_s3_uri: 'str | None' = None, "
                "s3_faults: 'str | None' = None, s3_wait: 'float | None' = None, "
                "**request_overrides: 'Any') -> 'JobResult'")
            smemu_run("img", interrupt=["after=1s"], compare_uninterrupted=True,
                      StoppingCondition={"MaxRuntimeInSeconds": 60})
            ((endpoint, image, options),) = CALLS
            assert endpoint is smemu_endpoint and image == "img"
            assert options == {"interrupt": ["after=1s"], "hyperparameters": None,
                               "instance_count": 1, "spot": True, "max_wait": 900,
                               "grace_period": None, "checkpoint_s3_uri": None,
                               "s3_faults": "errors=20% seed=7", "s3_wait": None,
                               "compare_uninterrupted": True,
                               "StoppingCondition": {"MaxRuntimeInSeconds": 60}}

        def test_the_s3_faults_option_is_every_jobs_default(smemu_run):
            CALLS.clear()
            smemu_run("img")
            smemu_run("img", s3_faults="latency=1ms", s3_wait=5.0)
            assert [(o["s3_faults"], o["s3_wait"]) for _, _, o in CALLS] == [
                ("errors=20% seed=7", None), ("latency=1ms", 5.0)]
    """)
    result = pytester.runpytest_subprocess(*PLUGIN, "--smemu-s3-faults", "errors=20% seed=7")
    result.assert_outcomes(passed=2)
