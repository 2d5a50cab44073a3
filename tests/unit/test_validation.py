"""Request validation against botocore's SageMaker model, in the service's own words."""

from __future__ import annotations

import copy
import random
import string
from typing import Any

import pytest

from emulator.errors import UnknownOperationException, ValidationException
from emulator.validation import (
    SerializationException,
    format_validation_message,
    validate_request,
    validation_errors,
)

NAME_PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
S3_PATTERN = "^(https|s3)://([^/]+)/?(.*)$"
FAILED = "failed to satisfy constraint:"

MINIMAL: dict[str, Any] = {
    "TrainingJobName": "job-1",
    "AlgorithmSpecification": {"TrainingImage": "trainer:latest", "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
    "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train",
        "S3DataDistributionType": "FullyReplicated"}}}],
    "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "HyperParameters": {"epochs": "3"},
    "Tags": [{"Key": "team", "Value": "ml"}],
}


def create(**changes: Any) -> dict[str, Any]:
    request = copy.deepcopy(MINIMAL)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target: Any = request
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return request


_DELETE = object()


def test_minimal_create_training_job_is_valid() -> None:
    assert validation_errors("CreateTrainingJob", MINIMAL) == []
    validate_request("CreateTrainingJob", MINIMAL)


CASES = [
    ("bad name", "CreateTrainingJob", create(TrainingJobName="abc_d"),
     [f"Value 'abc_d' at 'trainingJobName' {FAILED} Member must satisfy regular expression "
      f"pattern: {NAME_PATTERN}"]),
    ("64-char name", "CreateTrainingJob", create(TrainingJobName="a" * 64),
     [f"Value '{'a' * 64}' at 'trainingJobName' {FAILED} Member must have length less than or "
      "equal to 63",
      f"Value '{'a' * 64}' at 'trainingJobName' {FAILED} Member must satisfy regular expression "
      f"pattern: {NAME_PATTERN}"]),
    ("missing RoleArn", "CreateTrainingJob", create(RoleArn=_DELETE),
     [f"Value null at 'roleArn' {FAILED} Member must not be null"]),
    ("null RoleArn", "CreateTrainingJob", create(RoleArn=None),
     [f"Value null at 'roleArn' {FAILED} Member must not be null"]),
    # The model says TrainingInstanceCount min 0 (instance groups): 0 is a business rule, not here.
    ("InstanceCount 0", "CreateTrainingJob", create(ResourceConfig__InstanceCount=0), []),
    ("InstanceCount -1", "CreateTrainingJob", create(ResourceConfig__InstanceCount=-1),
     [f"Value '-1' at 'resourceConfig.instanceCount' {FAILED} Member must have value greater "
      "than or equal to 0"]),
    ("bad TrainingInputMode", "CreateTrainingJob",
     create(AlgorithmSpecification__TrainingInputMode="Stream"),
     [f"Value 'Stream' at 'algorithmSpecification.trainingInputMode' {FAILED} Member must satisfy "
      "enum value set: [Pipe, File, FastFile]"]),
    ("hyperparameter value of 2501 chars", "CreateTrainingJob",
     create(HyperParameters={"lr": "x" * 2501}),
     [f"Value '{{lr={'x' * 2501}}}' at 'hyperParameters' {FAILED} Map value must satisfy "
      "constraint: [Member must have length less than or equal to 2500, Member must have length "
      "greater than or equal to 0, Member must satisfy regular expression pattern: .*]"]),
    ("tag value with a comma", "CreateTrainingJob", create(Tags=[{"Key": "k", "Value": "a,b"}]),
     [f"Value 'a,b' at 'tags.1.member.value' {FAILED} Member must satisfy regular expression "
      f"pattern: {TAG_PATTERN}"]),
    ("bad output S3 URI", "CreateTrainingJob", create(OutputDataConfig__S3OutputPath="gs://b/o"),
     [f"Value 'gs://b/o' at 'outputDataConfig.s3OutputPath' {FAILED} Member must satisfy regular "
      f"expression pattern: {S3_PATTERN}"]),
    ("bad channel S3 URI", "CreateTrainingJob",
     create(InputDataConfig__0__DataSource__S3DataSource__S3Uri="bucket/train"),
     [f"Value 'bucket/train' at 'inputDataConfig.1.member.dataSource.s3DataSource.s3Uri' "
      f"{FAILED} Member must satisfy regular expression pattern: {S3_PATTERN}"]),
    ("missing tag value", "CreateTrainingJob", create(Tags=[{"Key": "k"}]),
     [f"Value null at 'tags.1.member.value' {FAILED} Member must not be null"]),
    ("list of scalars", "CreateTrainingJob",
     create(VpcConfig={"SecurityGroupIds": ["sg-1", "sg_2"], "Subnets": ["subnet-1"]}),
     [f"Value '[sg-1, sg_2]' at 'vpcConfig.securityGroupIds' {FAILED} Member must satisfy "
      "constraint: [Member must have length less than or equal to 32, Member must have length "
      "greater than or equal to 0, Member must satisfy regular expression pattern: "
      "[-0-9a-zA-Z]+]"]),
    ("map key", "CreateTrainingJob", create(Environment={"1BAD": "v"}),
     [f"Value '{{1BAD=v}}' at 'environment' {FAILED} Map keys must satisfy constraint: [Member "
      "must have length less than or equal to 512, Member must have length greater than or equal "
      "to 0, Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]"]),
    ("empty channel list", "CreateTrainingJob", create(InputDataConfig=[]),
     [f"Value '[]' at 'inputDataConfig' {FAILED} Member must have length greater than or equal "
      "to 1"]),
    ("fraction truncated like the service", "CreateTrainingJob",
     create(StoppingCondition__MaxRuntimeInSeconds=0.5),
     [f"Value '0' at 'stoppingCondition.maxRuntimeInSeconds' {FAILED} Member must have value "
      "greater than or equal to 1"]),
    ("unknown members ignored", "CreateTrainingJob", create(Bogus={"x": [1]}), []),
    ("null optional member is absent", "CreateTrainingJob", create(VpcConfig=None), []),
    ("unicode tag letters and spaces", "CreateTrainingJob",
     create(Tags=[{"Key": "équipe", "Value": "東京\u00a0ml"}]), []),
    ("emoji is no letter", "CreateTrainingJob", create(Tags=[{"Key": "k", "Value": "\U0001f600"}]),
     [f"Value '\U0001f600' at 'tags.1.member.value' {FAILED} Member must satisfy regular "
      f"expression pattern: {TAG_PATTERN}"]),
    ("DescribeTrainingJob bad name", "DescribeTrainingJob", {"TrainingJobName": "my job"},
     [f"Value 'my job' at 'trainingJobName' {FAILED} Member must satisfy regular expression "
      f"pattern: {NAME_PATTERN}"]),
    ("DescribeTrainingJob no name", "DescribeTrainingJob", {},
     [f"Value null at 'trainingJobName' {FAILED} Member must not be null"]),
    ("ListTrainingJobs MaxResults 101", "ListTrainingJobs", {"MaxResults": 101},
     [f"Value '101' at 'maxResults' {FAILED} Member must have value less than or equal to 100"]),
    ("ListTrainingJobs bad sort", "ListTrainingJobs", {"SortBy": "Size", "MaxResults": 0},
     [f"Value '0' at 'maxResults' {FAILED} Member must have value greater than or equal to 1",
      f"Value 'Size' at 'sortBy' {FAILED} Member must satisfy enum value set: "
      "[Name, CreationTime, Status]"]),
    ("ListTrainingJobs valid", "ListTrainingJobs",
     {"MaxResults": 10, "CreationTimeAfter": 1700000000, "StatusEquals": "Completed"}, []),
]


@pytest.mark.parametrize(("operation", "params", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_messages(operation: str, params: dict[str, Any], expected: list[str]) -> None:
    assert validation_errors(operation, params) == expected
    if not expected:
        validate_request(operation, params)
        return
    with pytest.raises(ValidationException) as caught:
        validate_request(operation, params)
    assert type(caught.value) is ValidationException
    assert caught.value.code == "ValidationException"
    assert caught.value.message == format_validation_message(expected)


def test_101_hyperparameters() -> None:
    params = create(HyperParameters={f"k{i}": "v" for i in range(101)})
    [error] = validation_errors("CreateTrainingJob", params)
    assert error.startswith("Value '{k0=v, k1=v, ")
    assert error.endswith("k100=v}' at 'hyperParameters' failed to satisfy constraint: "
                          "Member must have length less than or equal to 100")


def test_several_errors_are_counted_and_joined() -> None:
    params = create(TrainingJobName="bad_name", RoleArn=_DELETE,
                    ResourceConfig__InstanceCount=-1)
    with pytest.raises(ValidationException) as caught:
        validate_request("CreateTrainingJob", params)
    assert caught.value.message == (
        "3 validation errors detected: "
        f"Value 'bad_name' at 'trainingJobName' {FAILED} Member must satisfy regular expression "
        f"pattern: {NAME_PATTERN}; "
        f"Value null at 'roleArn' {FAILED} Member must not be null; "
        f"Value '-1' at 'resourceConfig.instanceCount' {FAILED} Member must have value greater "
        "than or equal to 0")
    assert format_validation_message(["x"]) == "1 validation error detected: x"


WRONG_TYPES = [
    ("string where int", create(ResourceConfig__InstanceCount="2"),
     "STRING_VALUE can not be converted to an Integer"),
    ("bool where int", create(ResourceConfig__InstanceCount=True),
     "TRUE_VALUE can not be converted to an Integer"),
    ("number where string", create(TrainingJobName=7),
     "NUMBER_VALUE can not be converted to a String"),
    ("list where string", create(RoleArn=["a"]), "Start of list found where not expected"),
    ("map where string", create(RoleArn={"a": 1}),
     "Start of structure or map found where not expected."),
    ("list where struct", create(ResourceConfig=[1]), "Start of list found where not expected"),
    ("string where struct", create(ResourceConfig="big"), "Expected null"),
    ("string where list", create(InputDataConfig="train"), "Expected list or null"),
    ("list where map", create(HyperParameters=["a"]), "Start of list found where not expected"),
    ("number hyperparameter", create(HyperParameters={"epochs": 3}),
     "NUMBER_VALUE can not be converted to a String"),
    ("string where boolean", create(EnableManagedSpotTraining="true"),
     "STRING_VALUE can not be converted to a Boolean"),
    ("top-level list", [], "Start of list found where not expected"),
    ("top-level string", "x", ""),
    ("top-level null", None, ""),
]


@pytest.mark.parametrize(("params", "expected"), [c[1:] for c in WRONG_TYPES],
                         ids=[c[0] for c in WRONG_TYPES])
def test_wrong_json_types_fail_as_the_service_deserializer_does(params: Any,
                                                                expected: str) -> None:
    assert validation_errors("CreateTrainingJob", params) == [expected]
    with pytest.raises(SerializationException) as caught:
        validate_request("CreateTrainingJob", params)
    assert isinstance(caught.value, ValidationException)
    assert caught.value.to_wire() == {"__type": "SerializationException", "message": expected}


def test_unknown_operation() -> None:
    with pytest.raises(UnknownOperationException):
        validation_errors("CreateTrainingJobs", {})


def test_every_model_pattern_translates_to_python() -> None:
    from emulator import validation

    model = validation._model()
    patterns = {model.shape_for(n).metadata.get("pattern") for n in model.shape_names} - {None}
    assert patterns
    assert [p for p in patterns if validation._java_regex(p) is None] == []


def _garbage(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 4 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, -1, 1, 101, 2**31, 2**70, 1.5, -0.0, 1e300, float("nan")])
    if pick in (3, 4, 5):
        alphabet = string.printable + "_,é東\u2028\U0001f600"
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 5, 70, 300])))
    if pick in (6, 7):
        return {rng.choice(_KEYS): _garbage(rng, depth + 1) for _ in range(rng.randrange(5))}
    return [_garbage(rng, depth + 1) for _ in range(rng.randrange(5))]


_KEYS = ["TrainingJobName", "RoleArn", "ResourceConfig", "InstanceCount", "HyperParameters",
         "Tags", "Key", "Value", "InputDataConfig", "ChannelName", "DataSource", "S3DataSource",
         "S3Uri", "MaxResults", "SortBy", "AlgorithmSpecification", "TrainingInputMode", "x"]


def _mutate(rng: random.Random, value: Any) -> Any:
    """The valid request with one node somewhere replaced by garbage."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(sorted(value))
        return {**value, key: _mutate(rng, value[key])}
    if isinstance(value, list) and value and rng.random() < 0.8:
        i = rng.randrange(len(value))
        return [*value[:i], _mutate(rng, value[i]), *value[i + 1:]]
    return _garbage(rng)


@pytest.mark.parametrize("seed", range(4))
def test_fuzz_only_validation_exceptions_escape(seed: int) -> None:
    rng = random.Random(seed)
    operations = ["CreateTrainingJob", "DescribeTrainingJob", "ListTrainingJobs", "StopTrainingJob"]
    for i in range(150):
        params = _mutate(rng, MINIMAL) if i % 2 else _garbage(rng)
        operation = rng.choice(operations)
        errors = validation_errors(operation, params)
        assert all(isinstance(e, str) for e in errors)
        try:
            validate_request(operation, params)
        except ValidationException as err:
            assert errors
            assert err.message == (errors[0] if isinstance(err, SerializationException)
                                   else format_validation_message(errors))
        else:
            assert errors == []
