"""Run images/toy-trainer/train.py on the host (no Docker) against temp /opt/ml trees."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

TRAIN_PY = Path(__file__).resolve().parents[2] / "images" / "toy-trainer" / "train.py"
FAST = 0.05


def _opt_ml(tmp_path: Path, name: str, hps: dict[str, str]) -> Path:
    root = tmp_path / name
    (root / "input" / "config").mkdir(parents=True)
    (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hps))
    return root


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SM_EMU_OPT_ML"] = str(root)
    env["TRAINING_JOB_NAME"] = "unit-toy"
    return env


def _run(root: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TRAIN_PY)],
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _hps(ckpt: Path, **extra: str) -> dict[str, str]:
    hps = {
        "total_steps": "12",
        "checkpoint_interval": "3",
        "seconds_per_step": str(FAST),
        "checkpoint_dir": str(ckpt),
    }
    hps.update(extra)
    return hps


def _attempt(root: Path) -> dict[str, object]:
    """The bookkeeping of the last attempt, kept out of the model."""
    return dict(json.loads((root / "output" / "data" / "attempt.json").read_text()))


def _expected_value(total: int) -> int:
    value = 0
    for step in range(1, total + 1):
        value = (value * 31 + step) % 1000000007
    return value


def test_full_run_writes_model(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    root = _opt_ml(tmp_path, "full", _hps(ckpt))
    res = _run(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "training job: unit-toy" in res.stdout
    assert "starting from scratch at step 0" in res.stdout
    assert "checkpoint saved at step 3" in res.stdout
    assert "step 12/12 value=" in res.stdout
    model = json.loads((root / "model" / "model.json").read_text())
    assert model == {"step": 12, "value": _expected_value(12)}
    assert _attempt(root) == {"steps_run_this_attempt": 12, "resumed_from": None}
    assert json.loads((ckpt / "checkpoint.json").read_text()) == {
        "step": 12,
        "value": _expected_value(12),
    }
    assert not (ckpt / "checkpoint.json.tmp").exists()


def test_checkpoint_dir_from_checkpointconfig(tmp_path: Path) -> None:
    ckpt = tmp_path / "from-config"
    hps = _hps(ckpt, total_steps="3")
    del hps["checkpoint_dir"]
    root = _opt_ml(tmp_path, "cfg", hps)
    (root / "input" / "config" / "checkpointconfig.json").write_text(
        json.dumps({"LocalPath": str(ckpt)})
    )
    res = _run(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (ckpt / "checkpoint.json").exists()


def _interrupt_after_checkpoint(root: Path, ckpt: Path) -> tuple[int, str, dict[str, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN_PY)],
        env=_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("checkpoint saved at step"):
                break
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(lines) + rest
    return proc.returncode, out, json.loads((ckpt / "checkpoint.json").read_text())


def test_sigterm_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    root = _opt_ml(tmp_path, "spot", _hps(ckpt))
    rc, out, saved = _interrupt_after_checkpoint(root, ckpt)
    assert rc == 143, out
    assert "SIGTERM received: checkpoint saved at step" in out
    assert 3 <= saved["step"] < 12
    assert saved["value"] == _expected_value(saved["step"])
    assert not (root / "model" / "model.json").exists()
    assert json.loads((root / "model" / "model-at-sigterm.json").read_text()) == {
        "step": saved["step"], "value": saved["value"]}
    assert _attempt(root) == {"steps_run_this_attempt": saved["step"], "resumed_from": None}

    res = _run(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"resumed from checkpoint at step {saved['step']}" in res.stdout
    model = json.loads((root / "model" / "model.json").read_text())
    assert model["value"] == _expected_value(12)
    assert model["step"] == 12
    assert _attempt(root) == {"steps_run_this_attempt": 12 - saved["step"],
                              "resumed_from": saved["step"]}

    # The very same model file as an uninterrupted run of the same script.
    ref_root = _opt_ml(tmp_path, "ref", _hps(tmp_path / "ref-ckpt"))
    assert _run(ref_root).returncode == 0
    assert (ref_root / "model" / "model.json").read_bytes() == \
        (root / "model" / "model.json").read_bytes()


@pytest.mark.parametrize("restore_rng", ["true", "false"])
def test_a_resume_that_does_not_restore_the_rng_trains_another_model(
        tmp_path: Path, restore_rng: str) -> None:
    ckpt = tmp_path / "ckpt"
    root = _opt_ml(tmp_path, "spot", _hps(ckpt, rng_seed="7", restore_rng=restore_rng))
    rc, out, saved = _interrupt_after_checkpoint(root, ckpt)
    assert rc == 143, out
    assert set(saved) == {"step", "value", "noise", "rng"}
    res = _run(root)
    assert f"resumed from checkpoint at step {saved['step']}" in res.stdout
    ref_root = _opt_ml(tmp_path, "ref", _hps(tmp_path / "ref-ckpt", rng_seed="7"))
    assert _run(ref_root).returncode == 0

    model = json.loads((root / "model" / "model.json").read_text())
    ref = json.loads((ref_root / "model" / "model.json").read_text())
    assert set(ref) == {"step", "value", "noise"}
    assert model["value"] == ref["value"] == _expected_value(12)  # the weights resumed alike
    assert (model["noise"] == ref["noise"]) is (restore_rng == "true")


def test_ignore_checkpoints_restarts_from_scratch(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    root = _opt_ml(tmp_path, "buggy", _hps(ckpt, ignore_checkpoints="true", total_steps="6"))
    ckpt.mkdir()
    (ckpt / "checkpoint.json").write_text(json.dumps({"step": 3, "value": _expected_value(3)}))
    res = _run(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "starting from scratch at step 0" in res.stdout
    assert "resumed from checkpoint" not in res.stdout
    model = json.loads((root / "model" / "model.json").read_text())
    assert model == {"step": 6, "value": _expected_value(6)}
    assert _attempt(root) == {"steps_run_this_attempt": 6, "resumed_from": None}
    # It still writes checkpoints.
    assert json.loads((ckpt / "checkpoint.json").read_text())["step"] == 6


def test_fail_at_step_writes_failure(tmp_path: Path) -> None:
    root = _opt_ml(tmp_path, "fail", _hps(tmp_path / "ckpt", fail_at_step="4"))
    res = _run(root)
    assert res.returncode == 1
    failure = (root / "output" / "failure").read_text()
    assert failure == "simulated failure at step 4"
    assert "step 3/12" in res.stdout
    assert "step 4/12" not in res.stdout
    assert not (root / "model" / "model.json").exists()


@pytest.mark.parametrize("bad", [{"total_steps": "many"}, {"ignore_checkpoints": "maybe"}])
def test_bad_hyperparameter_fails_cleanly(tmp_path: Path, bad: dict[str, str]) -> None:
    root = _opt_ml(tmp_path, "bad", _hps(tmp_path / "ckpt", **bad))
    res = _run(root)
    assert res.returncode == 1
    assert (
        (root / "output" / "failure")
        .read_text()
        .startswith("invalid hyperparameter")
    )


def test_missing_hyperparameters_uses_defaults(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    # Defaults are 60 steps x 0.2 s; just check it starts correctly and stop it.
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN_PY)],
        env=_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    first = [proc.stdout.readline() for _ in range(5)]
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=10)
    out = "".join(first) + rest
    assert proc.returncode == 143, out
    assert "hyperparameters: {}" in out
    assert "total_steps=60 checkpoint_interval=5" in out
    assert f"checkpoint_dir={root / 'checkpoints'}" in out
    # SIGTERM ended it early, where it said (not after running all 60 default steps).
    stopped = int(out.split("SIGTERM received: checkpoint saved at step ")[1].split(",")[0])
    assert stopped < 60 and "training complete" not in out
    assert json.loads((root / "checkpoints" / "checkpoint.json").read_text()) == {
        "step": stopped, "value": _expected_value(stopped)}


def test_per_host_checkpoints_are_named_after_the_current_host(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    root = _opt_ml(tmp_path, "host2", _hps(ckpt, per_host_checkpoints="true"))
    (root / "input" / "config" / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    res = _run(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "training job: unit-toy on algo-2" in res.stdout
    assert sorted(p.name for p in ckpt.iterdir()) == ["checkpoint-algo-2.json"]
    again = _run(root)
    assert "resumed from checkpoint at step 12" in again.stdout
