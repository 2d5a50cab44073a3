"""Bad requests through boto3 and raw HTTP: each gets AWS's code and message, never a 5xx."""

from __future__ import annotations

import copy
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.endpoint import CREDENTIALS, EndpointProcess, toy_request

pytestmark = pytest.mark.docker

NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
Mutator = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutator:
    def apply(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = request
        for key in parents:
            node = node.setdefault(key, {})
        if value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return apply


_DELETE = object()

# (id, change to a valid spot request, code, message: exact text or re.compile(...))
CREATE_CASES: list[tuple[str, Mutator, str, str | re.Pattern[str]]] = [
    ("bad-name", _set("TrainingJobName", "bad_name"), "ValidationException",
     "1 validation error detected: Value 'bad_name' at 'trainingJobName' failed to satisfy "
     f"constraint: Member must satisfy regular expression pattern: {NAME_PATTERN}"),
    ("name-too-long", _set("TrainingJobName", "a" * 64), "ValidationException",
     f"2 validation errors detected: Value '{'a' * 64}' at 'trainingJobName' failed to satisfy "
     "constraint: Member must have length less than or equal to 63; "
     f"Value '{'a' * 64}' at 'trainingJobName' failed to satisfy constraint: "
     f"Member must satisfy regular expression pattern: {NAME_PATTERN}"),
    ("missing-role", _set("RoleArn", _DELETE), "ValidationException",
     "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: "
     "Member must not be null"),
    ("max-wait-without-spot", _set("EnableManagedSpotTraining", False), "ValidationException",
     "Invalid MaxWaitTimeInSeconds. It is only supported when EnableManagedSpotTraining is "
     "set to true"),
    ("spot-without-max-wait", _set("StoppingCondition.MaxWaitTimeInSeconds", _DELETE),
     "ValidationException", re.compile(r"^Invalid StoppingCondition\. MaxWaitTimeInSeconds is "
                                       r"required when EnableManagedSpotTraining")),
    ("max-wait-below-max-runtime", _set("StoppingCondition.MaxWaitTimeInSeconds", 10),
     "ValidationException", re.compile(r"^Invalid MaxWaitTimeInSeconds\. It must be greater "
                                       r"than or equal to MaxRuntimeInSeconds")),
    ("unknown-bucket", _set("OutputDataConfig.S3OutputPath", "s3://no-such-bucket-x/out"),
     "ValidationException", re.compile(r"S3 bucket 'no-such-bucket-x' .* does not exist")),
    ("image-not-local", _set("AlgorithmSpecification.TrainingImage", "smemu-absent:1"),
     "ValidationException", re.compile(r"smemu-absent:1.*docker build.*docker pull")),
    ("runtime-zero", _set("StoppingCondition.MaxRuntimeInSeconds", 0), "ValidationException",
     "1 validation error detected: Value '0' at 'stoppingCondition.maxRuntimeInSeconds' failed "
     "to satisfy constraint: Member must have value greater than or equal to 1"),
    ("bad-input-mode", _set("AlgorithmSpecification.TrainingInputMode", "Stream"),
     "ValidationException",
     "1 validation error detected: Value 'Stream' at 'algorithmSpecification.trainingInputMode' "
     "failed to satisfy constraint: Member must satisfy enum value set: [Pipe, File, FastFile]"),
    ("pipe-mode", _set("AlgorithmSpecification.TrainingInputMode", "Pipe"),
     "ValidationException", re.compile("Pipe is not supported by smemu")),
    ("bad-s3-uri", _set("CheckpointConfig", {"S3Uri": "ftp://x/y"}), "ValidationException",
     re.compile(r"^1 validation error detected: Value 'ftp://x/y' at 'checkpointConfig\.s3Uri'")),
    ("tag-with-comma", _set("Tags", [{"Key": "a,b", "Value": "v"}]), "ValidationException",
     "1 validation error detected: Value 'a,b' at 'tags.1.member.key' failed to satisfy "
     "constraint: Member must satisfy regular expression pattern: "
     "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"),
    ("hyperparameter-not-string", _set("HyperParameters", {"total_steps": 3}),
     "SerializationException", "NUMBER_VALUE can not be converted to a String"),
    ("runtime-as-text", _set("StoppingCondition.MaxRuntimeInSeconds", "600"),
     "SerializationException", "STRING_VALUE can not be converted to an Integer"),
    ("bad-metric-regex", _set("AlgorithmSpecification.MetricDefinitions",
                              [{"Name": "loss", "Regex": "loss=(["}]),
     "ValidationException", re.compile(r"Regex 'loss=\(\[' of metric 'loss' is not a valid")),
]


@pytest.fixture()
def raw_sagemaker(endpoint: EndpointProcess) -> Any:
    """A client that sends what it is given: the server, not botocore, must reject it."""
    return boto3.client("sagemaker", endpoint_url=endpoint.url, region_name="us-east-1",
                        config=Config(parameter_validation=False,
                                      retries={"max_attempts": 1}), **CREDENTIALS)


def _error(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(Exception) as info:
        call()
    response = getattr(info.value, "response", None)
    assert response is not None, f"not a service error: {info.value!r}"
    return (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"],
            response["Error"]["Message"])


def _matches(message: str, expected: str | re.Pattern[str]) -> bool:
    return message == expected if isinstance(expected, str) else bool(expected.search(message))


@pytest.mark.parametrize(("change", "code", "message"),
                         [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_bad_create_request(raw_sagemaker: Any, sagemaker: Any, bucket: str, job_name: str,
                            change: Mutator, code: str,
                            message: str | re.Pattern[str]) -> None:
    request = toy_request(job_name, checkpoint_uri=f"s3://{bucket}/ckpt", bucket=bucket)
    request = copy.deepcopy(request)
    change(request)
    status, got_code, got_message = _error(lambda: raw_sagemaker.create_training_job(**request))
    assert (status, got_code) == (400, code), got_message
    assert _matches(got_message, message), got_message
    with pytest.raises(sagemaker.exceptions.ClientError):  # nothing was created
        sagemaker.describe_training_job(TrainingJobName=job_name)


@pytest.mark.parametrize(("operation", "params", "code", "message"), [
    ("describe_training_job", {"TrainingJobName": "never-created"}, "ValidationException",
     "Requested resource not found."),
    # Not found in each operation's own words (see NOT_FOUND_MESSAGE in emulator/contract.py).
    ("stop_training_job", {"TrainingJobName": "never-created"}, "ResourceNotFound",
     "Amazon SageMaker can't find a training job called never-created."),
    ("delete_training_job", {"TrainingJobName": "never-created"}, "ResourceNotFound",
     "Amazon SageMaker can't find a training job called never-created."),
    ("list_training_jobs", {"MaxResults": 101}, "ValidationException",
     "1 validation error detected: Value '101' at 'maxResults' failed to satisfy constraint: "
     "Member must have value less than or equal to 100"),
    ("list_training_jobs", {"SortBy": "Size"}, "ValidationException",
     re.compile(r"at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set")),
    ("list_training_jobs", {"NextToken": "not-a-token"}, "ValidationException",
     "Invalid pagination token"),
    ("list_tags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/nope"},
     "ValidationException", re.compile("does not exist")),
])
def test_bad_request_to_other_operations(raw_sagemaker: Any, operation: str,
                                         params: dict[str, Any], code: str,
                                         message: str | re.Pattern[str]) -> None:
    status, got_code, got_message = _error(lambda: getattr(raw_sagemaker, operation)(**params))
    assert (status, got_code) == (400, code), got_message
    assert _matches(got_message, message), got_message


def _post(endpoint: EndpointProcess, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(endpoint.url + "/", data=body, method="POST",
                                     headers={"Content-Type": "application/x-amz-json-1.1",
                                              **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        text = err.read()
        try:
            return err.code, json.loads(text)
        except ValueError:
            return err.code, text


SIGNED = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, "
          "SignedHeaders=host, Signature=00")


@pytest.mark.parametrize(("target", "body", "headers", "code"), [
    ("SageMaker.FlyToTheMoon", b"{}", {}, "UnknownOperationException"),
    ("SageMaker.CreateModel", b"{}", {}, "UnknownOperationException"),
    ("SageMaker.CreateTrainingJob", b"{garbage", {}, "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"\xc3\x28\xff", {}, "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"[]", {}, "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"[" * 50000, {}, "SerializationException"),
    ("SageMaker.ListTrainingJobs", b'{"MaxResults": 1e999}', {}, "SerializationException"),
    ("SageMaker.ListTrainingJobs", b'{"MaxResults": ' + b"7" * 400 + b"}", {},
     "SerializationException"),
    ("SageMaker.DescribeTrainingJob", b'{"TrainingJobName": ["x"]}', {},
     "SerializationException"),
    ("", b"{}", {"Authorization": SIGNED}, "UnknownOperationException"),
])
def test_raw_http_errors_are_400(endpoint: EndpointProcess, target: str, body: bytes,
                                 headers: dict[str, str], code: str) -> None:
    if target:
        headers = {**headers, "X-Amz-Target": target}
    status, answer = _post(endpoint, body, headers)
    assert status == 400, answer
    assert answer["__type"] == code
    assert answer["message"]
