"""What each of the resume verification's flags means, and what to do about it."""

from __future__ import annotations

# By the flag's opening words (jobs/resume.py writes them; a host's flag starts "algo-N: ").
EXPLANATIONS: tuple[tuple[str, str], ...] = (
    ("restarted from scratch",
     "Checkpoints were restored into /opt/ml/checkpoints, but the training never opened any of "
     "them: it started over. Load the newest checkpoint at start-up."),
    ("ignored SIGTERM",
     "The container did not exit within the grace period after SIGTERM and was SIGKILLed. "
     "Handle SIGTERM: save a checkpoint and exit."),
    ("checkpoint written during the grace window",
     "A checkpoint was written after the interruption's SIGTERM. It reaches S3 only if the "
     "upload finishes before SIGKILL; save checkpoints regularly, not only on SIGTERM."),
    ("torn checkpoint",
     "A checkpoint file was being written when the container died: what S3 holds of it may be "
     "incomplete. Write to a temporary file and rename it when complete."),
    ("checkpoint written in place",
     "The file was overwritten where it lies; an interruption mid-write leaves a torn file. "
     "Write a temporary file, then rename it over the old one."),
    ("S3 differs from the checkpoint directory",
     "After the attempt, S3 did not hold exactly the checkpoint directory (path, size, sha256): "
     "an upload failed or a file changed while it was sent."),
    ("checkpoints of other prefixes restored",
     "SageMaker restores by string prefix: objects under prefixes that merely start with the "
     "checkpoint S3Uri came down too. End the S3Uri with a unique name (or a '/')."),
    ("the job keeps no checkpoints",
     "There is no CheckpointConfig (or nothing was written to it): each spot interruption "
     "starts the training again from the beginning. Set CheckpointConfig.S3Uri and save "
     "checkpoints to /opt/ml/checkpoints."),
    ("overwrite conflict",
     "Several hosts wrote the same S3 key under the one checkpoint prefix: the last upload wins. "
     "Name checkpoint files per host (SM_CURRENT_HOST)."),
)


def explain(flag: str) -> str:
    """The explanation of a flag, or "" for one this version does not know."""
    text = flag.split(": ", 1)[1] if flag.startswith("algo-") and ": " in flag else flag
    for opening, explanation in EXPLANATIONS:
        if text.startswith(opening):
            return explanation
    return ""
