"""A script-mode entry point, as SageMaker's framework containers run it.

The sagemaker-training toolkit fetches this directory (the SDK's sourcedir.tar.gz, or the
`sm_drivers` of SDK v3) and runs `python train.py --epochs 20 --lr 0.05 ...` with SM_MODEL_DIR
and the other SM_* variables set. The "model" is a linear regression fitted by gradient
descent in pure Python (no framework needed in the image), one epoch per second-ish.

Checkpoints: `checkpoint-<epoch>.json` in /opt/ml/checkpoints (CheckpointConfig.LocalPath)
after every epoch, written atomically (temp file + rename); on start the newest one is
loaded and training goes on from the epoch after it. The toolkit does not pass SIGTERM on to
this script, so an interruption ends in SIGKILL: frequent checkpoints are the only defence.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import time

CHECKPOINT_DIR = "/opt/ml/checkpoints"


def data(rows: int = 200) -> list[tuple[float, float]]:
    rng = random.Random(42)
    return [(x, 3.0 * x + 0.5 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1)
                                                             for _ in range(rows))]


def latest_checkpoint() -> dict | None:
    found = sorted((int(m.group(1)), path) for path in glob.glob(
        os.path.join(CHECKPOINT_DIR, "checkpoint-*.json"))
        if (m := re.search(r"checkpoint-(\d+)\.json$", path)))
    return json.load(open(found[-1][1])) if found else None


def save_checkpoint(state: dict) -> None:
    os.makedirs(CHECKPOINT_DIR, exist_ok=True)
    path = os.path.join(CHECKPOINT_DIR, f"checkpoint-{state['epoch']}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seconds_per_epoch", type=float, default=0.5)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    args, _ = parser.parse_known_args()

    state = latest_checkpoint()
    if state:
        print(f"resumed from checkpoint at epoch {state['epoch']}", flush=True)
    else:
        state = {"epoch": 0, "w": 0.0, "b": 0.0}
        print("starting from scratch at epoch 0", flush=True)
    points = data()
    while state["epoch"] < args.epochs:
        time.sleep(args.seconds_per_epoch)  # the work of an epoch
        grad_w = sum(2 * (state["w"] * x + state["b"] - y) * x for x, y in points) / len(points)
        grad_b = sum(2 * (state["w"] * x + state["b"] - y) for x, y in points) / len(points)
        state = {"epoch": state["epoch"] + 1, "w": state["w"] - args.lr * grad_w,
                 "b": state["b"] - args.lr * grad_b}
        loss = sum((state["w"] * x + state["b"] - y) ** 2 for x, y in points) / len(points)
        print(f"epoch {state['epoch']}/{args.epochs} loss={loss:.6f}", flush=True)
        save_checkpoint(state)
    os.makedirs(args.model_dir, exist_ok=True)
    with open(os.path.join(args.model_dir, "model.json"), "w") as f:
        json.dump({"w": state["w"], "b": state["b"]}, f, sort_keys=True)
    print(f"training complete: epoch {state['epoch']} w={state['w']:.6f} b={state['b']:.6f}",
          flush=True)


if __name__ == "__main__":
    main()
