"""`smemu run`: a second Ctrl-C that lands while StopTrainingJob is still on its way detaches
quietly (exit 130, one line), like one that lands while the stopping job is followed."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.cli import commands_run


class _SlowStop:
    """A SageMaker client whose StopTrainingJob is interrupted by the second Ctrl-C."""

    class exceptions:
        ClientError = RuntimeError

    def __init__(self) -> None:
        self.stops = 0

    def stop_training_job(self, TrainingJobName: str) -> None:
        self.stops += 1
        raise KeyboardInterrupt


def _ctrl_c(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise KeyboardInterrupt


def test_second_ctrl_c_during_the_stop_call_detaches_with_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands_run, "follow", _ctrl_c)
    monkeypatch.setattr(commands_run, "FollowState", lambda logs, name: None)
    sagemaker = _SlowStop()
    with pytest.raises(SystemExit) as exited:
        commands_run._follow_with_ctrl_c(sagemaker, None, "job-1", quiet=False,
                                         show_logs=True)
    assert exited.value.code == 130
    assert sagemaker.stops == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line] == [
        "Stopping job-1 (Ctrl-C again to detach) ...",
        "Detached; job job-1 goes on. `smemu jobs describe job-1`"]
    assert "Traceback" not in err
