"""What a training container sees: /opt/ml, its environment, its host name, the endpoint's S3;
and an image that has no `train` to run."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

PROBE_IMAGE = session_image("smemu-test-probe")

# Writes what it sees into /opt/ml/model/seen.json, then uses S3 from inside if it can.
PROBE = textwrap.dedent("""
    import json, os, socket, urllib.request
    seen = {"hostname": socket.gethostname(), "env": dict(os.environ), "files": {}}
    for name in sorted(os.listdir("/opt/ml/input/config")):
        with open("/opt/ml/input/config/" + name) as f:
            seen["files"][name] = f.read()
    seen["code"] = open("/opt/ml/code/marker.txt").read()
    seen["algo_1"] = socket.gethostbyname("algo-1")
    seen["channel"] = sorted(os.listdir("/opt/ml/input/data/train"))
    url = os.environ.get("AWS_ENDPOINT_URL_S3")
    if url:
        bucket = os.environ["PROBE_BUCKET"]
        req = urllib.request.Request(url + "/" + bucket + "/from-container.txt",
                                     data=b"hello from algo-1", method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        seen["put_status"] = urllib.request.urlopen(req).status
    else:
        try:
            socket.gethostbyname("smemu-endpoint")
            seen["endpoint_resolves"] = True
        except OSError:
            seen["endpoint_resolves"] = False
    open("/opt/ml/model/seen.json", "w").write(json.dumps(seen))
""")


@pytest.fixture(scope="module")
def probe_image(docker_client: Any) -> Iterator[str]:
    """An image that keeps its own file under /opt/ml/code, as toolkit images do."""
    yield build_script_image(docker_client, PROBE_IMAGE, PROBE,
                             {"opt/ml/code/marker.txt": "from the image"})
    docker_client.images.remove(PROBE_IMAGE, force=True)


def probe_request(name: str, bucket: str, **extra: Any) -> dict[str, Any]:
    request = toy_request(name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = PROBE_IMAGE
    request["ResourceConfig"]["InstanceType"] = "ml.c5.xlarge"
    request["HyperParameters"] = {"epochs": "3", "lr": "0.01"}
    request["Environment"] = {"PROBE_BUCKET": bucket, "MY_SETTING": "on"}
    request["InputDataConfig"] = [{
        "ChannelName": "train",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                        "S3Uri": f"s3://{bucket}/data/train",
                                        "S3DataDistributionType": "FullyReplicated"}},
    }]
    request["CheckpointConfig"] = {"S3Uri": f"s3://{bucket}/ckpt",
                                   "LocalPath": "/opt/ml/checkpoints"}
    request.update(extra)
    return request


def run_probe(sagemaker: Any, s3: Any, bucket: str, name: str, **extra: Any) -> dict[str, Any]:
    s3.put_object(Bucket=bucket, Key="data/train/a.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key="data/train/sub/b.csv", Body=b"3,4\n")
    sagemaker.create_training_job(**probe_request(name, bucket, **extra))
    job = wait_for_job(sagemaker, name, timeout=120)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return dict(json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])[
        "seen.json"]))


def test_container_sees_what_sagemaker_provides(probe_image: str, sagemaker: Any, s3: Any,
                                               bucket: str, job_name: str) -> None:
    seen = run_probe(sagemaker, s3, bucket, job_name)
    assert seen["hostname"] == "algo-1"
    assert seen["algo_1"]  # resolvable, as the sagemaker-training toolkit requires
    env = seen["env"]
    assert env["TRAINING_JOB_NAME"] == job_name
    assert env["TRAINING_JOB_ARN"].endswith(f":training-job/{job_name.lower()}")
    assert env["AWS_REGION"] == "us-east-1"
    assert env["MY_SETTING"] == "on"
    files = seen["files"]
    assert json.loads(files["hyperparameters.json"]) == {"epochs": "3", "lr": "0.01"}
    resource = json.loads(files["resourceconfig.json"])
    assert resource["current_host"] == "algo-1" and resource["hosts"] == ["algo-1"]
    assert resource["current_instance_type"] == "ml.c5.xlarge"
    assert json.loads(files["inputdataconfig.json"])["train"]["TrainingInputMode"] == "File"
    assert json.loads(files["checkpointconfig.json"]) == {"LocalPath": "/opt/ml/checkpoints",
                                                          "S3Uri": f"s3://{bucket}/ckpt"}
    assert seen["code"] == "from the image"  # /opt/ml/code of the image is not hidden
    assert seen["channel"] == ["a.csv", "sub"]
    # boto3-style S3 access from inside the container, through the job network's gateway.
    assert seen["put_status"] == 200
    body = s3.get_object(Bucket=bucket, Key="from-container.txt")["Body"].read()
    assert body == b"hello from algo-1"


def test_network_isolation_takes_the_endpoint_away(probe_image: str, sagemaker: Any, s3: Any,
                                                   bucket: str, job_name: str) -> None:
    seen = run_probe(sagemaker, s3, bucket, job_name, EnableNetworkIsolation=True)
    assert "AWS_ENDPOINT_URL_S3" not in seen["env"]
    assert seen["endpoint_resolves"] is False


def test_image_without_train_fails_as_the_users_error(sagemaker: Any, bucket: str,
                                                      job_name: str) -> None:
    request = toy_request(job_name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = "smemu-base:latest"  # no `train`
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: the training container could not start")
    assert "train" in job["FailureReason"]
