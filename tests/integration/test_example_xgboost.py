"""examples/xgboost: a real XGBoost container (xgboost-cpu wheels prepared on the host), built
with `smemu run --build`, interrupted twice, resumed from XGBoost's own checkpoints, and its
final model byte for byte the one of an uninterrupted run.

The image is tagged by its build context's digest (smemu-build-xgboost:<digest>), not per
session: it is the same image for every session that builds the same files, nobody's cleanup
removes it, and a second run reuses it (the first build takes about a minute)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import smemu
from tests.support.endpoint import EndpointProcess

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "xgboost"


@pytest.fixture(scope="session")
def xgboost_wheels() -> Path:
    """examples/xgboost/wheels, prepared on the host (offline, seconds, once it is there)."""
    prepared = subprocess.run(["bash", str(ROOT / "scripts" / "prepare-wheels.sh"),
                               str(EXAMPLE)], capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    return EXAMPLE / "wheels"


def test_xgboost_resumes_from_its_checkpoints_to_the_uninterrupted_model(
        endpoint: EndpointProcess, xgboost_wheels: Path, bucket: str, job_name: str) -> None:
    result = smemu("run", "--endpoint-url", endpoint.url, "--build", str(EXAMPLE),
                   "--job-name", job_name, "--spot", "--max-wait", "900",
                   "--checkpoint-s3-uri", f"s3://{bucket}/xgboost/{job_name}",
                   "--output-path", f"s3://{bucket}/out",
                   "-H", "num_round=30", "-H", "checkpoint_interval=5",
                   "-H", "seconds_per_round=0.1",
                   "--interrupt", "checkpoint=2", "--interrupt", "checkpoint=2",
                   "--grace-period", "20s", "--compare-uninterrupted", timeout=900)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"(built|image) smemu-build-xgboost:[0-9a-f]{12}", out), out
    # Attempt 1 checkpoints after rounds 6 and 11 and is interrupted at the second.
    assert "starting from scratch at round 0" in out
    rounds = [int(r) for r in re.findall(r"resumed from checkpoint xgboost-checkpoint_\d+\.ubj "
                                         r"at round (\d+)", out)]
    assert len(rounds) == 2 and 11 <= rounds[0] < rounds[1] < 30, out
    assert "training complete: 30 rounds" in out
    assert "Attempts: 3, interruptions: 2" in out
    assert re.search(r"^\s+3\s+completed\s.*\bresumed\b", out, re.MULTILINE), out
    assert f"Compared with the uninterrupted run {job_name}-uninterrupted: identical" in out
