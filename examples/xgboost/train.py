#!/usr/bin/env python3
"""XGBoost training with checkpoints, the way SageMaker's built-in XGBoost container does it.

Every `checkpoint_interval` boosting rounds XGBoost's own callback
(`xgboost.callback.TrainingCheckPoint`) writes `xgboost-checkpoint_<round>.ubj` into the
checkpoint directory (CheckpointConfig.LocalPath, /opt/ml/checkpoints by default), which
SageMaker mirrors to S3. On start the script loads the newest checkpoint that loads (one a
kill cut short is skipped) and trains only the rounds still missing (`xgb_model=`): after a
spot interruption the job goes on where its last checkpoint left it, and its final model is
the one an uninterrupted run would have built, byte for byte (the `hist` method is
deterministic, and nothing here samples at random).

The data is a synthetic regression set drawn from a fixed seed (no download: the example runs
offline); a `train` channel with a CSV file (label in the first column, no header, as the
built-in XGBoost reads it) replaces it.

Hyperparameters (strings, as SageMaker passes them): num_round (40), checkpoint_interval (5),
max_depth (4), eta (0.3), rows (2000), seconds_per_round (0: the pause after each round, so a
test can interrupt a tiny job while it trains).

Writes /opt/ml/model/xgboost-model.json and, outside the model (so that it never differs
between an interrupted and an uninterrupted run), /opt/ml/output/data/attempt.json.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import sys
import time
from typing import Any

import numpy as np
import xgboost as xgb

OPT_ML = "/opt/ml"
CONFIG_DIR = os.path.join(OPT_ML, "input", "config")
CHECKPOINT_NAME = "xgboost-checkpoint"
EXIT_SIGTERM = 143


def log(message: str) -> None:
    print(message, flush=True)


def read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def checkpoint_dir() -> str:
    config = read_json(os.path.join(CONFIG_DIR, "checkpointconfig.json")) or {}
    return str(config.get("LocalPath") or os.path.join(OPT_ML, "checkpoints"))


def training_data(rows: int) -> xgb.DMatrix:
    channel = os.path.join(OPT_ML, "input", "data", "train")
    files = sorted(glob.glob(os.path.join(channel, "*.csv")))
    if files:
        data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
        log(f"data: {len(data)} rows from the train channel")
        return xgb.DMatrix(data[:, 1:], label=data[:, 0])
    rng = np.random.default_rng(7)
    features = rng.normal(size=(rows, 8))
    label = features @ rng.normal(size=8) + np.sin(features[:, 0]) + rng.normal(0, 0.1, rows)
    log(f"data: {rows} synthetic rows")
    return xgb.DMatrix(features, label=label)


def latest_checkpoint(directory: str) -> tuple[xgb.Booster, str] | None:
    """The newest checkpoint that loads; a file a kill cut short is skipped."""
    pattern = re.compile(rf"^{CHECKPOINT_NAME}_(\d+)\.ubj$")
    found = [(int(m.group(1)), name) for name in os.listdir(directory)
             if (m := pattern.match(name))] if os.path.isdir(directory) else []
    for _, name in sorted(found, reverse=True):
        path = os.path.join(directory, name)
        try:
            return xgb.Booster(model_file=path), name
        except xgb.core.XGBoostError as err:
            log(f"skipping unreadable checkpoint {name}: {str(err).splitlines()[0]}")
    return None


class Pace(xgb.callback.TrainingCallback):
    """Logs each round (and sleeps `seconds` after it, to give an interruption time)."""

    def __init__(self, total: int, seconds: float) -> None:
        super().__init__()
        self.total, self.seconds = total, seconds

    def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
        rmse = evals_log["train"]["rmse"][-1]
        log(f"round {model.num_boosted_rounds()}/{self.total} train-rmse={rmse:.6f}")
        if self.seconds:
            time.sleep(self.seconds)
        return False


def on_sigterm(signum: int, frame: Any) -> None:
    # PID 1 ignores SIGTERM unless it has a handler. The work since the last checkpoint is
    # lost, as with the built-in container: the checkpoints already written are what resumes.
    log("SIGTERM received: exiting; the next attempt resumes from the last checkpoint")
    sys.exit(EXIT_SIGTERM)


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    hps = read_json(os.path.join(CONFIG_DIR, "hyperparameters.json")) or {}
    total = int(hps.get("num_round", 40))
    interval = int(hps.get("checkpoint_interval", 5))
    params = {"objective": "reg:squarederror", "tree_method": "hist", "seed": 0,
              "max_depth": int(hps.get("max_depth", 4)), "eta": float(hps.get("eta", 0.3))}
    dtrain = training_data(int(hps.get("rows", 2000)))

    directory = checkpoint_dir()
    os.makedirs(directory, exist_ok=True)
    booster, done = None, 0
    latest = latest_checkpoint(directory)
    if latest is not None:
        booster, name = latest
        done = booster.num_boosted_rounds()
        log(f"resumed from checkpoint {name} at round {done}")
    else:
        log("starting from scratch at round 0")

    callbacks = [Pace(total, float(hps.get("seconds_per_round", 0))),
                 # Saves after rounds interval+1, 2*interval+1, ... (its own counting).
                 xgb.callback.TrainingCheckPoint(directory, name=CHECKPOINT_NAME,
                                                 interval=interval)]
    booster = xgb.train(params, dtrain, num_boost_round=max(total - done, 0),
                        evals=[(dtrain, "train")], xgb_model=booster, callbacks=callbacks,
                        verbose_eval=False)

    model_dir = os.environ.get("SM_MODEL_DIR", os.path.join(OPT_ML, "model"))
    booster.save_model(os.path.join(model_dir, "xgboost-model.json"))
    output_data = os.path.join(OPT_ML, "output", "data")
    os.makedirs(output_data, exist_ok=True)
    with open(os.path.join(output_data, "attempt.json"), "w") as f:
        json.dump({"resumed_from_round": done if latest else None,
                   "rounds_this_attempt": total - done}, f)
    log(f"training complete: {booster.num_boosted_rounds()} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
