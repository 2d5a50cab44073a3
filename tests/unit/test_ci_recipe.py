"""examples/ci/: the GitHub Actions workflow builds the image, runs the interruption tests and
uploads the job reports; the shell script is the same recipe (it runs in
tests/integration/test_ci_recipe.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"


def _steps() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    return job["env"], job["steps"]


def _index(steps: list[dict[str, Any]], predicate: Any) -> int:
    matching = [i for i, step in enumerate(steps) if predicate(step)]
    assert len(matching) == 1, steps
    return matching[0]


def test_the_workflow_builds_tests_and_uploads_the_reports_in_that_order() -> None:
    env, steps = _steps()
    image, reports = env["TRAINING_IMAGE"], env["SMEMU_REPORT_DIR"]
    assert image and reports

    checkout = _index(steps, lambda s: str(s.get("uses", "")).startswith("actions/checkout@"))
    install = _index(steps, lambda s: "pip install smemu pytest" in s.get("run", ""))
    build = _index(steps, lambda s: s.get("run", "").startswith(
        'docker build -t "$TRAINING_IMAGE"'))
    test = _index(steps, lambda s: "-m pytest" in s.get("run", ""))
    upload = _index(steps, lambda s: str(s.get("uses", "")).startswith(
        "actions/upload-artifact@"))
    assert checkout < install < test and checkout < build < test < upload

    assert '--smemu-report-dir "$SMEMU_REPORT_DIR"' in steps[test]["run"]
    assert steps[upload]["if"] == "always()"  # the reports matter most when the tests fail
    assert steps[upload]["with"]["path"].rstrip("/") == reports
    assert steps[upload]["with"]["if-no-files-found"] == "ignore"


def test_the_shell_script_is_valid_bash_with_the_same_options() -> None:
    script = CI / "interruption-tests.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for piece in ('docker build ${DOCKER_BUILD_ARGS:-} -t "$image" "$context"',
                  "--smemu-report-dir", "--smemu-endpoint-url", "export TRAINING_IMAGE"):
        assert piece in text
    _env, steps = _steps()
    assert "tests/interruption" in next(s["run"] for s in steps if "-m pytest" in s.get("run", ""))
    assert 'tests="${INTERRUPTION_TESTS:-tests/interruption}"' in text  # the same default
