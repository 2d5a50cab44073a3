#!/usr/bin/env python3
"""PyTorch training that resumes exactly after a spot interruption.

A small MLP regression on synthetic data (drawn from a fixed seed: no download), trained with
SGD + momentum and a shuffling DataLoader. After every epoch `checkpoint.pt` goes into the
checkpoint directory (CheckpointConfig.LocalPath, /opt/ml/checkpoints by default), written to
a temp file and renamed: the model's and the optimizer's state_dict (momentum buffers), the
epoch, and the RNG states (torch's, the DataLoader generator's, Python's), so a resumed run
draws the same batches and trains the same model as an uninterrupted one. On SIGTERM the
epoch in progress is abandoned and the script exits 143 (PID 1 ignores SIGTERM without a
handler); the next attempt starts from the last finished epoch.

Hyperparameters: epochs (10), lr (0.05), batch_size (32), seconds_per_epoch (0: a pause per
epoch, so a test can interrupt a small job while it trains). Writes /opt/ml/model/model.json.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from typing import Any

import torch

OPT_ML = "/opt/ml"
CONFIG_DIR = os.path.join(OPT_ML, "input", "config")
EXIT_SIGTERM = 143
_stop = False


def log(message: str) -> None:
    print(message, flush=True)


def read_json(path: str) -> Any:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def on_sigterm(signum: int, frame: Any) -> None:
    global _stop
    _stop = True


def main() -> int:
    signal.signal(signal.SIGTERM, on_sigterm)
    hps = read_json(os.path.join(CONFIG_DIR, "hyperparameters.json")) or {}
    epochs = int(hps.get("epochs", 10))
    lr = float(hps.get("lr", 0.05))
    batch_size = int(hps.get("batch_size", 32))
    pause = float(hps.get("seconds_per_epoch", 0))
    config = read_json(os.path.join(CONFIG_DIR, "checkpointconfig.json")) or {}
    checkpoint_dir = str(config.get("LocalPath") or os.path.join(OPT_ML, "checkpoints"))
    checkpoint = os.path.join(checkpoint_dir, "checkpoint.pt")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    data = torch.Generator().manual_seed(7)
    features = torch.randn(512, 8, generator=data)
    target = (features @ torch.randn(8, 1, generator=data)).tanh()
    dataset = torch.utils.data.TensorDataset(features, target)
    torch.manual_seed(0)
    random.seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    shuffle = torch.Generator().manual_seed(1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True,
                                         generator=shuffle)

    epoch = 0
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        epoch = state["epoch"]
        torch.set_rng_state(state["torch_rng"])
        shuffle.set_state(state["loader_rng"])
        random.setstate(state["python_rng"])
        log(f"resumed from checkpoint at epoch {epoch}")
    else:
        log("starting from scratch at epoch 0")

    while epoch < epochs:
        total = 0.0
        for batch, label in loader:
            if _stop:
                log(f"SIGTERM received during epoch {epoch + 1}: exiting")
                return EXIT_SIGTERM
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(batch), label)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        epoch += 1
        os.makedirs(checkpoint_dir, exist_ok=True)
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch, "torch_rng": torch.get_rng_state(),
                    "loader_rng": shuffle.get_state(), "python_rng": random.getstate()},
                   checkpoint + ".tmp")
        os.replace(checkpoint + ".tmp", checkpoint)
        log(f"epoch {epoch}/{epochs} loss={total / len(dataset):.6f}")
        time.sleep(pause)
        if _stop:
            log(f"SIGTERM received after epoch {epoch}: exiting")
            return EXIT_SIGTERM

    model_dir = os.environ.get("SM_MODEL_DIR", os.path.join(OPT_ML, "model"))
    # The weights as JSON lists: a file whose bytes depend on the weights only (the pickle
    # of torch.save may differ between equal models), so runs compare file by file.
    weights = {name: value.tolist() for name, value in model.state_dict().items()}
    with open(os.path.join(model_dir, "model.json"), "w") as f:
        json.dump(weights, f, sort_keys=True)
    log(f"training complete: epoch {epoch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
