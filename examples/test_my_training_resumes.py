"""A user's interruption tests, with smemu's pytest plugin (README: "pytest plugin").

Installing smemu registers the plugin; these tests need only Docker and the training image:

    TRAINING_IMAGE=my-trainer:latest pytest examples/test_my_training_resumes.py

TRAINING_HYPERPARAMETERS (JSON) replaces the toy trainer's defaults below.
"""

from __future__ import annotations

import json
import os

from emulator.testing import assert_completed_within, assert_lost_at_most, assert_resumed

IMAGE = os.environ.get("TRAINING_IMAGE", "smemu-toy-trainer:latest")
HYPERPARAMETERS = json.loads(os.environ.get(
    "TRAINING_HYPERPARAMETERS",
    '{"total_steps": 30, "seconds_per_step": 0.1, "checkpoint_interval": 5}'))


def test_training_resumes_after_a_spot_interruption(smemu_run):
    result = smemu_run(IMAGE, interrupt=["checkpoint=1"], hyperparameters=HYPERPARAMETERS)

    assert result.status == "Completed", result.failure_reason
    assert_resumed(result)  # every attempt after an interruption read its checkpoint
    assert_lost_at_most(result, 30)  # seconds of training lost per interruption
    assert_completed_within(result, 600)


def test_training_survives_two_interruptions(smemu_run):
    result = smemu_run(IMAGE, interrupt=["checkpoint=1", "checkpoint=2"],
                       hyperparameters=HYPERPARAMETERS)

    assert [a.outcome for a in result.attempts] == ["interrupted", "interrupted", "completed"]
    assert_resumed(result)
