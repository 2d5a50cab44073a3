#!/usr/bin/env python3
"""A user training script for the sagemaker-training toolkit (SAGEMAKER_PROGRAM=train.py).

The toolkit runs it as `python3 train.py --total_steps 30 ...` with the SM_* environment it
builds from /opt/ml/input/config/*.json. This script reads its hyperparameters from SM_HPS
(the toolkit's JSON, values already decoded: 30, 0.1, true) and ignores the command line;
without the toolkit it falls back to hyperparameters.json, so it also runs on its own.

Same checkpoint/resume behaviour as images/toy-trainer/train.py: state (step, value) with
value = (value * 31 + step) % 1000000007 every step, so a resumed run ends with exactly the
value of an uninterrupted one; checkpoint.json written atomically (temp file + rename)
every `checkpoint_interval` steps into /opt/ml/checkpoints (LocalPath of
checkpointconfig.json when set; the toolkit has no SM_CHECKPOINT_DIR); loaded on start
("resumed from checkpoint at step N" / "starting from scratch at step 0");
$SM_MODEL_DIR/model.json on success.

Hyperparameters: total_steps (20), checkpoint_interval (5), seconds_per_step (0.2),
never_checkpoint (false; true = never write a checkpoint), ignore_checkpoints (false;
true = never load one), fail_at_step (none: exit 1 at that step, the toolkit then writes
/opt/ml/output/failure).

SIGTERM: a handler saves a checkpoint and exits 143, as the toy trainer does. Under the
toolkit it never runs: the toolkit (PID 1, no handler of its own) does not forward SIGTERM,
so the container is SIGKILLed at the end of the grace period. That is the point.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

MOD = 1000000007
EXIT_SIGTERM = 143
CHECKPOINT_FILE = "checkpoint.json"
OPT_ML = "/opt/ml"
CONFIG_DIR = os.path.join(OPT_ML, "input", "config")
# What the toolkit exports, recorded in model.json so that tests can check it.
TOOLKIT_ENV = ("SM_CURRENT_HOST", "SM_HOSTS", "SM_MODEL_DIR", "SM_OUTPUT_DATA_DIR",
               "SM_CHANNELS", "SM_NUM_CPUS", "SM_NUM_GPUS", "SM_USER_ENTRY_POINT",
               "SM_MODULE_DIR", "SM_LOG_LEVEL", "TRAINING_JOB_NAME", "AWS_REGION")

_sigterm_received = False


def log(msg: str) -> None:
    print(msg, flush=True)


def _on_sigterm(signum: int, frame: Any) -> None:
    global _sigterm_received
    _sigterm_received = True


def read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def hyperparameters() -> dict[str, Any]:
    raw = os.environ.get("SM_HPS")
    if raw:
        return dict(json.loads(raw))
    return dict(read_json(os.path.join(CONFIG_DIR, "hyperparameters.json")) or {})


def as_int(value: Any, default: int | None) -> int | None:
    if value is None or str(value).strip().lower() in ("", "none", "null"):
        return default
    return int(str(value).strip())


def as_float(value: Any, default: float) -> float:
    return default if value is None or str(value).strip() == "" else float(str(value))


def as_bool(value: Any) -> bool:
    # SM_HPS holds JSON-decoded values (true), hyperparameters.json holds strings ("true").
    return str(value).strip().lower() in ("true", "1", "yes", "y", "on")


def atomic_write_json(path: str, obj: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, sort_keys=True, separators=(",", ":")))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
    hps = hyperparameters()
    log(f"training job: {os.environ.get('TRAINING_JOB_NAME', '<unset>')} "
        f"on {os.environ.get('SM_CURRENT_HOST', '<no SM_CURRENT_HOST>')}")
    log(f"hyperparameters: {json.dumps(hps, sort_keys=True)}; argv: {sys.argv[1:]}")
    total_steps = as_int(hps.get("total_steps"), 20)
    interval = as_int(hps.get("checkpoint_interval"), 5)
    seconds_per_step = as_float(hps.get("seconds_per_step"), 0.2)
    never_checkpoint = as_bool(hps.get("never_checkpoint"))
    ignore_checkpoints = as_bool(hps.get("ignore_checkpoints"))
    fail_at_step = as_int(hps.get("fail_at_step"), None)
    assert total_steps is not None and interval is not None and interval > 0

    ckpt_cfg = read_json(os.path.join(CONFIG_DIR, "checkpointconfig.json")) or {}
    checkpoint_dir = str(ckpt_cfg.get("LocalPath") or os.path.join(OPT_ML, "checkpoints"))
    checkpoint_path = os.path.join(checkpoint_dir, CHECKPOINT_FILE)
    model_dir = os.environ.get("SM_MODEL_DIR", os.path.join(OPT_ML, "model"))
    log(f"config: total_steps={total_steps} checkpoint_interval={interval} "
        f"seconds_per_step={seconds_per_step} never_checkpoint={str(never_checkpoint).lower()} "
        f"checkpoint_dir={checkpoint_dir} model_dir={model_dir}")

    step, value = 0, 0
    resumed_from: int | None = None
    if not ignore_checkpoints and os.path.exists(checkpoint_path):
        ckpt = read_json(checkpoint_path)
        step, value = int(ckpt["step"]), int(ckpt["value"])
        resumed_from = step
        log(f"resumed from checkpoint at step {step}")
    else:
        log("starting from scratch at step 0")

    def save_checkpoint() -> None:
        if not never_checkpoint:
            atomic_write_json(checkpoint_path, {"step": step, "value": value})
            log(f"checkpoint saved at step {step}")

    steps_run = 0
    while step < total_steps:
        if not interruptible_sleep(seconds_per_step):
            break
        if fail_at_step is not None and step + 1 == fail_at_step:
            # The toolkit turns this into /opt/ml/output/failure (ExecuteUserScriptError).
            print(f"simulated failure at step {step + 1}", file=sys.stderr, flush=True)
            return 1
        step += 1
        value = (value * 31 + step) % MOD
        steps_run += 1
        log(f"step {step}/{total_steps} value={value}")
        if step % interval == 0:
            save_checkpoint()

    if _sigterm_received and step < total_steps:
        save_checkpoint()
        log(f"SIGTERM received at step {step}, exiting")
        return EXIT_SIGTERM

    atomic_write_json(os.path.join(model_dir, "model.json"), {
        "step": step,
        "value": value,
        "steps_run_this_attempt": steps_run,
        "resumed_from": resumed_from,
        "toolkit_env": {k: os.environ.get(k) for k in TOOLKIT_ENV},
    })
    log(f"training complete: step {step} value={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
