"""Host paths a request names (file:// channels, the smemu:code-dir tag) stay inside the
endpoint's `--allow-path` roots: real endpoint over HTTP, real boto3, real Docker. The session
endpoint allows pytest's temporary root only; the "outside" directory is a temporary directory
of its own, elsewhere, holding a secret that must never reach a container."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from emulator import contract
from emulator.cli.clients import ensure_endpoint
from emulator.server import daemon
from emulator.storage.s3 import S3Endpoint
from tests.support import figures
from tests.support.endpoint import free_port, read_model_tar, wait_for_job

pytestmark = pytest.mark.docker

TALLY = figures.Tally("host-paths")  # the README's Reliability figure
SECRET = b"TOPSECRET-of-the-endpoint-user"
# Lists the channel (what the container sees) and copies every byte it can read into the model.
SHOW = ("cd /opt/ml/input/data/train && find . | sort > /opt/ml/model/listing.txt && "
        "find . -type f | sort | xargs cat > /opt/ml/model/contents.txt; "
        "cat /opt/ml/code/hello.txt /opt/ml/code/leak > /opt/ml/model/code.txt 2>&1; true")


@pytest.fixture()
def outside(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory outside pytest's temporary root (so outside the endpoint's roots)."""
    directory = Path(tempfile.mkdtemp(prefix="smemu-outside-"))
    basetemp = os.path.realpath(tmp_path_factory.getbasetemp())
    assert not os.path.realpath(directory).startswith(basetemp + "/")
    (directory / "secret.txt").write_bytes(SECRET)
    (directory / "sub").mkdir()
    (directory / "sub" / "deep.txt").write_bytes(SECRET)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _request(name: str, bucket: str, channel: str | None = None,
             code_dir: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": "smemu-base:latest",
                                   "TrainingInputMode": "File",
                                   "ContainerEntrypoint": ["sh", "-c", SHOW]},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                           "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
    }
    if channel is not None:
        request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": channel}}}]
    if code_dir is not None:
        request["Tags"] = [{"Key": "smemu:code-dir", "Value": code_dir}]
    return request


def _refused(sagemaker: Any, request: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as caught:
        sagemaker.create_training_job(**request)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as missing:  # refused before any job exists
        sagemaker.describe_training_job(TrainingJobName=request["TrainingJobName"])
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    TALLY.add(refused=1)
    return str(response["Error"]["Message"])


def test_every_host_path_outside_the_roots_is_refused_with_how_to_allow_it(
        sagemaker: Any, bucket: str, job_name: str, tmp_path: Path, outside: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "link-out").symlink_to(outside)  # inside the root, pointing out
    dot_dot = f"{tmp_path}/data/{os.path.relpath(outside, tmp_path / 'data')}"
    assert ".." in dot_dot and os.path.realpath(dot_dot) == os.path.realpath(outside)
    cases = {
        "plain": (f"file://{outside}", None),
        "dotdot": (f"file://{dot_dot}", None),
        "symlink": (f"file://{tmp_path}/link-out", None),
        "symlink-below": (f"file://{tmp_path}/link-out/sub", None),
        "code": (None, str(outside)),
        "code-dotdot": (None, dot_dot),
        "code-symlink": (None, f"{tmp_path}/link-out"),
    }
    for case, (channel, code_dir) in cases.items():
        message = _refused(sagemaker, _request(f"{job_name}-{case}", bucket, channel, code_dir))
        what = "Channel 'train'" if channel else "Tag smemu:code-dir"
        assert message.startswith(f"{what} names the host path "), message
        assert "smemu serve --allow-path DIR" in message, message
        assert "outside the directories this smemu endpoint may read" in message
        assert str(outside) not in message or case in ("plain", "code")  # targets not told


def test_a_channel_inside_the_roots_is_copied_and_its_links_out_are_not(
        sagemaker: Any, s3: Any, bucket: str, job_name: str, tmp_path: Path,
        outside: Path) -> None:
    data = tmp_path / "data"
    (data / "nested").mkdir(parents=True)
    (data / "a.txt").write_bytes(b"inside-a\n")
    (data / "nested" / "b.txt").write_bytes(b"inside-b\n")
    (tmp_path / "cache.txt").write_bytes(b"inside-cache\n")  # in the root, not in the channel
    (data / "cached").symlink_to(tmp_path / "cache.txt")  # a dataset linking into its cache
    (data / "leak.txt").symlink_to(outside / "secret.txt")
    (data / "leak-dir").symlink_to(outside)
    (data / "nested" / "up.txt").symlink_to(os.path.relpath(outside / "secret.txt",
                                                            data / "nested"))  # ../../..
    assert (data / "nested" / "up.txt").read_bytes() == SECRET  # the link works on the host
    code = tmp_path / "code"
    code.mkdir()
    (code / "hello.txt").write_bytes(b"hello from the code dir\n")
    (code / "leak").symlink_to(outside / "secret.txt")  # resolves in the container, not here

    request = _request(job_name, bucket, f"file://{data}", str(code))
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    listing = model["listing.txt"].decode().split()
    assert listing == [".", "./a.txt", "./cached", "./nested", "./nested/b.txt"], listing
    assert model["contents.txt"] == b"inside-a\ninside-cache\ninside-b\n"
    assert model["code.txt"].startswith(b"hello from the code dir\n")
    for name, content in model.items():
        assert SECRET not in content, f"{name} holds the outside file's content"
    TALLY.add(links_out=4)  # leak.txt, leak-dir, nested/up.txt, the code dir's leak


def test_the_endpoint_smemu_run_starts_allows_the_paths_its_command_line_names(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, job_name: str) -> None:
    # A free port stands in for the default local one (4590 may be a user's); the endpoint
    # is started as `smemu run` starts it (`smemu up` in the background, a state dir here).
    port = free_port()
    monkeypatch.setattr(contract, "DEFAULT_PORT", port)
    monkeypatch.delenv("SMEMU_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SMEMU_STATE_DIR", str(tmp_path / "state"))
    code, other = tmp_path / "code", tmp_path / "other"
    for directory in (code, other):
        directory.mkdir()
        (directory / "hello.txt").write_bytes(b"hello from the code dir\n")
    try:
        url = ensure_endpoint(None, allow_paths=[str(code)])
        endpoint = S3Endpoint(url)
        sagemaker, s3 = endpoint.client("sagemaker"), endpoint.client("s3")
        s3.create_bucket(Bucket="paths")
        sagemaker.create_training_job(**_request(job_name, "paths", code_dir=str(code)))
        job = wait_for_job(sagemaker, job_name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        model = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
        assert model["code.txt"].startswith(b"hello from the code dir\n")
        # The same user's directory, but not one the command line named: refused.
        message = _refused(sagemaker, _request(f"{job_name}-2", "paths", code_dir=str(other)))
        assert f"(allowed: {code})" in message
    finally:
        daemon.down(port)


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
