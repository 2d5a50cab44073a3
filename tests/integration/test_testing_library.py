"""emulator.testing against real Docker jobs, on a child-process and an in-process endpoint."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import emulator.testing as smemu
from emulator.testing import (
    Endpoint,
    EndpointRequestError,
    EndpointStartError,
    JobResult,
    read_result,
    run_job,
    start_job,
    wait_for_job,
)
from tests.support.endpoint import TOY_IMAGE, free_port, toy_value
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

FAST = {"seconds_per_step": "0.1", "checkpoint_interval": "5"}
_ENVIRONMENT_BEFORE: dict[str, dict[str, str]] = {}  # os.environ before each endpoint started


@pytest.fixture(scope="module", params=["subprocess", "in-process"])
def library_endpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                     docker_client: Any) -> Iterator[Endpoint]:
    state = tmp_path_factory.mktemp(f"library-{request.param}")
    _ENVIRONMENT_BEFORE[request.param] = _environment()
    with Endpoint(in_process=request.param == "in-process", state_dir=state,
                  grace_period=20) as endpoint:
        yield endpoint
    label = {"label": f"smemu.server={endpoint.server_id}"}
    assert not docker_client.containers.list(all=True, filters=label, ignore_removed=True)
    assert not docker_client.networks.list(filters=label)
    assert not (state / "work" / endpoint.server_id).exists()


def test_run_job_reports_the_resume_after_an_interruption(library_endpoint: Endpoint) -> None:
    result = run_job(library_endpoint, TOY_IMAGE, interrupt=["checkpoint=1"],
                     hyperparameters={"total_steps": 30, **FAST})

    assert isinstance(result, JobResult)
    assert result.status == "Completed", result.failure_reason
    assert result.describe["TrainingJobName"] == result.name
    assert result.statuses.count("Interrupted") == 1
    first, second = result.attempts
    assert (first.outcome, second.outcome) == ("interrupted", "completed")
    assert first.resume == "fresh-start" and first.restored == ()
    assert first.interruption == "checkpoint=1"
    assert first.lost_seconds is not None and first.lost_seconds >= 0
    assert "checkpoint.json" in [f.path for f in first.uploaded]
    assert second.resume == "resumed", second.flags
    assert [f.path for f in second.restored] == ["checkpoint.json"]
    assert second.restored[0].size > 0 and second.restored[0].sha256
    assert second.restored_read == ("checkpoint.json",)
    assert second.flags == ()
    logs = result.logs()
    assert "starting from scratch at step 0" in logs
    assert "resumed from checkpoint at step" in logs
    assert "training complete: step 30" in logs
    model = json.loads(result.model_files()["model.json"])
    assert model["value"] == toy_value(30)
    smemu.assert_resumed(result)
    smemu.assert_lost_at_most(result, first.lost_seconds)
    with pytest.raises(AssertionError, match=r"attempt 1 lost .*s of training to its "
                                             r"interruption \(checkpoint=1\)"):
        smemu.assert_lost_at_most(result, first.lost_seconds - 0.001)
    smemu.assert_no_overwrite_conflicts(result)
    smemu.assert_completed_within(result, 900)


def test_a_restart_from_scratch_is_flagged(library_endpoint: Endpoint) -> None:
    result = run_job(library_endpoint, TOY_IMAGE, interrupt="checkpoint=1",
                     hyperparameters={"total_steps": 20, "ignore_checkpoints": "true", **FAST})

    assert result.status == "Completed"
    assert result.attempts[1].resume == "restarted-from-scratch"
    assert any(f.startswith("restarted from scratch") for f in result.attempts[1].flags)
    with pytest.raises(AssertionError, match=rf"^{result.name}: attempt 2 restarted from "
                                             r"scratch: it never read the restored "
                                             r"checkpoint\.json"):
        smemu.assert_resumed(result)


def test_reset_forgets_finished_jobs_and_leaves_running_ones_alone(
        library_endpoint: Endpoint) -> None:
    finished = run_job(library_endpoint, TOY_IMAGE, spot=False,
                       hyperparameters={"total_steps": 3, **FAST})
    assert finished.status == "Completed"
    running = start_job(library_endpoint, TOY_IMAGE, spot=False,
                        hyperparameters={"total_steps": 40, **FAST})
    sagemaker = library_endpoint.client("sagemaker")
    _wait_for_secondary(library_endpoint, running, "Training")
    # What a crashed cleanup could leave behind: the reset removes it with the job.
    state = library_endpoint.state_dir
    assert state is not None
    work = state / "work" / library_endpoint.server_id
    (work / finished.name / "attempt-1").mkdir(parents=True)
    (work / finished.name / "attempt-1" / "left-over").write_text("x")
    assert (work / running).is_dir()

    outcome = library_endpoint.reset()

    assert finished.name in outcome["Removed"] and running not in outcome["Removed"]
    assert running in outcome["Running"]
    assert not (work / finished.name).exists()
    with pytest.raises(sagemaker.exceptions.ClientError, match="Requested resource not found"):
        sagemaker.describe_training_job(TrainingJobName=finished.name)
    names = [s["TrainingJobName"] for s in
             sagemaker.list_training_jobs(MaxResults=100)["TrainingJobSummaries"]]
    assert finished.name not in names and running in names
    # The running job goes on to its end, checkpoints and all, and is reset away after.
    ended = wait_for_job(library_endpoint, running)
    assert ended.status == "Completed", ended.failure_reason
    assert json.loads(ended.model_files()["model.json"])["value"] == toy_value(40)
    assert running in library_endpoint.reset()["Removed"]
    # A freed name can be used again.
    again = run_job(library_endpoint, TOY_IMAGE, name=finished.name, spot=False,
                    hyperparameters={"total_steps": 2, **FAST})
    assert again.status == "Completed" and len(again.attempts) == 1


def test_wait_gives_up_stops_the_job_and_says_where_it_was(library_endpoint: Endpoint) -> None:
    name = start_job(library_endpoint, TOY_IMAGE, spot=False,
                     hyperparameters={"total_steps": 1000, **FAST})
    _wait_for_secondary(library_endpoint, name, "Training")
    with pytest.raises(TimeoutError, match=rf"{name} did not end within 1s: it is "
                                           r"InProgress/Training \(StopTrainingJob sent\)"):
        wait_for_job(library_endpoint, name, timeout=1)
    assert wait_for_job(library_endpoint, name).status == "Stopped"


def test_emulator_operations_refused_in_aws_words(library_endpoint: Endpoint) -> None:
    with pytest.raises(EndpointRequestError) as raised:
        library_endpoint.interrupt("no-such-job")
    assert raised.value.code == "ResourceNotFound"
    assert raised.value.message == "Amazon SageMaker can't find a training job called no-such-job."
    assert str(raised.value) == f"ResourceNotFound: {raised.value.message}"


def test_starting_and_running_jobs_leave_the_environment_alone(
        library_endpoint: Endpoint, request: pytest.FixtureRequest) -> None:
    result = run_job(library_endpoint.url, TOY_IMAGE, spot=False,
                     hyperparameters={"total_steps": 2, **FAST})
    assert result.status == "Completed"
    assert _environment() == _ENVIRONMENT_BEFORE[request.node.callspec.params[
        "library_endpoint"]]


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}  # pytest's own


def test_connect_reuses_a_running_endpoint_and_leaves_it_running(
        library_endpoint: Endpoint) -> None:
    other = Endpoint.connect(library_endpoint.url + "/")
    assert other.server_id == library_endpoint.server_id
    other.stop()
    other.stop()
    assert library_endpoint.health()["server_id"] == library_endpoint.server_id
    name = start_job(other, TOY_IMAGE, spot=False, hyperparameters={"total_steps": 1, **FAST})
    assert read_result(library_endpoint, name).name == name
    assert wait_for_job(other, name).status == "Completed"


def test_connect_to_nothing_says_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(EndpointStartError, match=f"no smemu endpoint answers at {url}"):
        Endpoint.connect(url)


def test_a_failed_start_cleans_up_and_shows_the_log(library_endpoint: Endpoint,
                                                    tmp_path: Path) -> None:
    taken = library_endpoint.url.rsplit(":", 1)[1]
    busy = Endpoint(port=int(taken))
    with pytest.raises(EndpointStartError) as raised, busy:
        pass
    message = str(raised.value)
    assert "exited with status 2" in message
    assert f"smemu: cannot listen on 127.0.0.1:{taken}" in message  # from the endpoint's log
    assert busy.state_dir is not None and not busy.state_dir.exists()  # its temp state dir
    busy.stop()  # idempotent after a failed start

    in_process = Endpoint(in_process=True, port=int(taken), state_dir=tmp_path / "ip")
    with pytest.raises(EndpointStartError, match=f"cannot listen on 127.0.0.1:{taken}"):
        in_process.start()
    in_process.stop()


def test_readiness_timeout_stops_the_process_and_attaches_its_log(tmp_path: Path) -> None:
    slow = Endpoint(state_dir=tmp_path / "slow", start_timeout=0.01)
    with pytest.raises(EndpointStartError, match=r"did not answer within 0\.01s"):
        slow.start()
    assert slow.process is not None and slow.process.returncode is not None
    slow.stop()


def _wait_for_secondary(endpoint: Endpoint, name: str, secondary: str) -> None:
    from tests.support.endpoint import wait_for_status

    wait_for_status(endpoint.client("sagemaker"), name, secondary)


# A trainer whose result depends on its RNG: exact only when the RNG state is restored too.
# 30 steps of 0.2 s: rewrites of one file coalesce in the mirror's queue, and on a loaded CI
# machine 20 steps of 0.1 s once ended before the 3rd upload, so the trigger never fired.
SAMPLER = """
import json, os, random, signal, time
hp = json.load(open("/opt/ml/input/config/hyperparameters.json"))
path = "/opt/ml/checkpoints/state.json"
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
rng, step, total = random.Random(7), 0, 0.0
if os.path.exists(path):
    state = json.load(open(path))
    step, total = state["step"], state["total"]
    if hp.get("restore_rng") != "false":
        rng.setstate((state["rng"][0], tuple(state["rng"][1]), state["rng"][2]))
while step < 30 and not stop:
    time.sleep(0.2)
    step, total = step + 1, total + rng.random()
    with open(path + ".tmp", "w") as f:
        json.dump({"step": step, "total": total, "rng": rng.getstate()}, f)
    os.replace(path + ".tmp", path)
if step < 30:
    raise SystemExit(143)
json.dump({"total": total}, open("/opt/ml/model/model.json", "w"))
print(f"total={total}")
"""
SAMPLER_IMAGE = session_image("smemu-test-sampler")


@pytest.fixture(scope="module")
def sampler_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, SAMPLER_IMAGE, SAMPLER)
    docker_client.images.remove(SAMPLER_IMAGE, force=True)


@pytest.mark.parametrize("restore_rng", ["true", "false"])
def test_same_as_uninterrupted_tells_an_exact_resume_from_an_inexact_one(
        endpoint: Endpoint, sampler_image: str, restore_rng: str) -> None:
    result = run_job(endpoint, sampler_image, interrupt=["checkpoint=2"],
                     hyperparameters={"restore_rng": restore_rng},
                     compare_uninterrupted=True)

    twin = result.uninterrupted
    assert twin is not None and twin.name == f"{result.name}-uninterrupted"
    assert result.status == twin.status == "Completed", (result.failure_reason,
                                                         twin.failure_reason)
    assert [a.outcome for a in twin.attempts] == ["completed"]  # no plan, own prefix
    assert twin.attempts[0].restored == ()
    smemu.assert_resumed(result)  # both read their checkpoint: only the model tells them apart
    if restore_rng == "true":
        smemu.assert_same_as_uninterrupted(result)
    else:
        with pytest.raises(AssertionError, match=rf"{result.name} trained a different model "
                                                 rf"than the uninterrupted {twin.name}:\n"
                                                 r"model\.json \(sha256 "):
            smemu.assert_same_as_uninterrupted(result)
