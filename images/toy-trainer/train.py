#!/usr/bin/env python3
"""Toy SageMaker training script for smemu: deterministic, checkpointing, SIGTERM-aware.

Standard library only; Python 3.9+.

It follows the SageMaker container contract (see /work/shared/sagemaker-contract.md):
reads /opt/ml/input/config/hyperparameters.json (all values strings) and
checkpointconfig.json, checkpoints to the checkpoint dir, writes /opt/ml/model/model.json
on success, /opt/ml/model/model-at-sigterm.json when SIGTERM ends it early (a stopped job's
model.tar.gz holds what it had learnt), and /opt/ml/output/failure on error. The attempt's
bookkeeping (resumed_from, steps_run_this_attempt) goes to /opt/ml/output/data/attempt.json
(output.tar.gz), not into the model: an exact resume gives a model byte for byte equal to an
uninterrupted run's.

State is an integer ``step`` (completed steps) and ``value``, updated every step as
``value = (value * 31 + step) % 1000000007``, so a run that is interrupted and resumed
from its checkpoint ends with exactly the same value as an uninterrupted run.

Hyperparameters (strings): total_steps (60), checkpoint_interval (5),
seconds_per_step (0.2), ignore_checkpoints ("false"; "true" = never load a checkpoint,
the classic restart-from-scratch bug, but still write them), fail_at_step (none),
checkpoint_dir (LocalPath of checkpointconfig.json, else /opt/ml/checkpoints),
per_host_checkpoints ("false"; "true" = checkpoint-<current_host>.json, so that the hosts of a
multi-instance job, which share one S3 prefix, do not overwrite each other's checkpoint),
rng_seed (none; an integer = every step also draws from a seeded random generator into
``noise``, which the model, and the checkpoint with the generator's state, then hold),
restore_rng ("true"; "false" = reseed the generator on every start instead of restoring it:
the job resumes, yet trains a different model than an uninterrupted run).

Environment: SM_EMU_OPT_ML overrides the /opt/ml root (for running on the host in tests).

Exit codes: 0 completed, 1 failure (failure file written), 143 interrupted by SIGTERM
(checkpoint written first).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

MOD = 1000000007
RNG_MULTIPLIER, RNG_INCREMENT, RNG_MODULUS = 6364136223846793005, 1442695040888963407, 2**64
EXIT_SIGTERM = 143
CHECKPOINT_FILE = "checkpoint.json"
SIGTERM_MODEL_FILE = "model-at-sigterm.json"

OPT_ML = os.environ.get("SM_EMU_OPT_ML", "/opt/ml")
CONFIG_DIR = os.path.join(OPT_ML, "input", "config")
MODEL_DIR = os.path.join(OPT_ML, "model")
OUTPUT_DIR = os.path.join(OPT_ML, "output")
ATTEMPT_FILE = os.path.join(OUTPUT_DIR, "data", "attempt.json")

_sigterm_received = False


def log(msg: str) -> None:
    print(msg, flush=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    # Only set a flag: the training loop checks it at safe points, so the
    # checkpoint it writes is always a consistent (step, value) pair.
    global _sigterm_received
    _sigterm_received = True


def write_failure(message: str) -> None:
    os.makedirs(OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(OUTPUT_DIR, "failure"), "w") as f:
        f.write(message)
    print(message, file=sys.stderr, flush=True)


def read_json(path: str) -> Any | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


class BadHyperparameter(ValueError):
    pass


def _int(hps: dict[str, Any], key: str, default: int | None) -> int | None:
    raw = hps.get(key)
    if raw is None or str(raw).strip() == "" or str(raw).strip().lower() == "none":
        return default
    try:
        return int(str(raw).strip())
    except ValueError:
        raise BadHyperparameter(f"{key}={raw!r} is not an integer") from None


def _float(hps: dict[str, Any], key: str, default: float) -> float:
    raw = hps.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        return float(str(raw).strip())
    except ValueError:
        raise BadHyperparameter(f"{key}={raw!r} is not a number") from None


def _bool(hps: dict[str, Any], key: str, default: bool) -> bool:
    raw = hps.get(key)
    if raw is None or str(raw).strip() == "":
        return default
    s = str(raw).strip().lower()
    if s in ("true", "1", "yes", "y", "on"):
        return True
    if s in ("false", "0", "no", "n", "off"):
        return False
    raise BadHyperparameter(f"{key}={raw!r} is not true/false")


def atomic_write_json(path: str, obj: Any) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, sort_keys=True, separators=(",", ":")))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def interruptible_sleep(seconds: float) -> bool:
    """Sleep, waking early on SIGTERM. Returns False when interrupted."""
    deadline = time.monotonic() + seconds
    while not _sigterm_received:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        time.sleep(min(remaining, 0.05))
    return False


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)

    hps = read_json(os.path.join(CONFIG_DIR, "hyperparameters.json")) or {}
    ckpt_cfg = read_json(os.path.join(CONFIG_DIR, "checkpointconfig.json")) or {}
    resources = read_json(os.path.join(CONFIG_DIR, "resourceconfig.json")) or {}
    host = str(resources.get("current_host") or "algo-1")
    log(f"training job: {os.environ.get('TRAINING_JOB_NAME', '<unset>')} on {host}")
    log(f"hyperparameters: {json.dumps(hps, sort_keys=True)}")

    try:
        total_steps = _int(hps, "total_steps", 60)
        interval = _int(hps, "checkpoint_interval", 5)
        seconds_per_step = _float(hps, "seconds_per_step", 0.2)
        ignore_checkpoints = _bool(hps, "ignore_checkpoints", False)
        fail_at_step = _int(hps, "fail_at_step", None)
        per_host = _bool(hps, "per_host_checkpoints", False)
        rng_seed = _int(hps, "rng_seed", None)
        restore_rng = _bool(hps, "restore_rng", True)
        assert total_steps is not None and interval is not None
        if total_steps < 0 or interval <= 0 or seconds_per_step < 0:
            raise BadHyperparameter(
                "need total_steps >= 0, checkpoint_interval > 0, seconds_per_step >= 0"
            )
    except BadHyperparameter as e:
        write_failure(f"invalid hyperparameter: {e}")
        return 1

    checkpoint_dir = (
        str(hps.get("checkpoint_dir") or "")
        or str(ckpt_cfg.get("LocalPath") or "")
        or os.path.join(OPT_ML, "checkpoints")
    )
    checkpoint_path = os.path.join(
        checkpoint_dir, f"checkpoint-{host}.json" if per_host else CHECKPOINT_FILE)
    log(
        f"config: total_steps={total_steps} checkpoint_interval={interval} "
        f"seconds_per_step={seconds_per_step} ignore_checkpoints={str(ignore_checkpoints).lower()} "
        f"fail_at_step={fail_at_step} checkpoint_dir={checkpoint_dir}"
    )

    step, value = 0, 0
    rng, noise = rng_seed, 0  # the generator's state and what it drew (with rng_seed only)
    resumed_from: int | None = None
    if not ignore_checkpoints and os.path.exists(checkpoint_path):
        try:
            ckpt = read_json(checkpoint_path)
            step, value = int(ckpt["step"]), int(ckpt["value"])
            if rng_seed is not None:
                noise = int(ckpt.get("noise", 0))
                if restore_rng and "rng" in ckpt:
                    rng = int(ckpt["rng"])
            resumed_from = step
        except (ValueError, KeyError, TypeError) as e:
            log(f"WARNING: checkpoint {checkpoint_path} unreadable ({e!r}); ignoring it")
            step, value, rng, noise = 0, 0, rng_seed, 0
    if resumed_from is not None:
        log(f"resumed from checkpoint at step {step}")
    else:
        log("starting from scratch at step 0")

    def state() -> dict[str, int]:
        learnt = {"step": step, "value": value}
        return learnt if rng is None else {**learnt, "noise": noise}

    def save_checkpoint() -> None:
        atomic_write_json(checkpoint_path, state() if rng is None else {**state(), "rng": rng})

    def save_bookkeeping() -> None:
        atomic_write_json(ATTEMPT_FILE, {"steps_run_this_attempt": steps_run,
                                         "resumed_from": resumed_from})

    steps_run = 0
    while step < total_steps:
        if not interruptible_sleep(seconds_per_step):
            break  # SIGTERM during the step's "work": that step is not done
        if fail_at_step is not None and step + 1 == fail_at_step:
            write_failure(f"simulated failure at step {step + 1}")
            return 1
        step += 1
        value = (value * 31 + step) % MOD
        if rng is not None:
            rng = (rng * RNG_MULTIPLIER + RNG_INCREMENT) % RNG_MODULUS
            noise = (noise + (rng >> 33)) % MOD
        steps_run += 1
        log(f"step {step}/{total_steps} value={value}")
        if step % interval == 0:
            save_checkpoint()
            log(f"checkpoint saved at step {step}")
        if _sigterm_received:
            break

    if _sigterm_received and step < total_steps:
        save_checkpoint()
        atomic_write_json(os.path.join(MODEL_DIR, SIGTERM_MODEL_FILE), state())
        save_bookkeeping()
        log(f"SIGTERM received: checkpoint saved at step {step}, exiting")
        return EXIT_SIGTERM

    atomic_write_json(os.path.join(MODEL_DIR, "model.json"), state())
    save_bookkeeping()
    log(f"training complete: step {step} value={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
