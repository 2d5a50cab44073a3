"""JobService and the wire adapter without Docker: delete, tags, list, hardening against 5xx."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from emulator import contract
from emulator.api.sagemaker import SageMakerHandler
from emulator.contract import JobStatus
from emulator.errors import ImageMissing, ResourceNotFound, ValidationException
from emulator.jobs.describe import describe, encode_token
from emulator.jobs.model import TrainingJob
from emulator.jobs.runner import RunnerContext
from emulator.jobs.service import JobService
from emulator.jobs.spec import parse_spec


class _Engine:
    def ensure_image(self, image: str) -> None:
        if image != "present:latest":
            raise ImageMissing(f"The training image '{image}' is not in the local Docker "
                               f"engine. Build it (docker build -t {image} .) or pull it "
                               f"(docker pull {image}) first.")


    def remove_tree(self, path: Path, helper_image: str) -> None:
        shutil.rmtree(path, ignore_errors=True)


class _S3Client:
    def head_bucket(self, Bucket: str) -> None:
        if Bucket != "there":
            raise RuntimeError("no such bucket")


def make_service(tmp_path: Path) -> JobService:
    s3 = SimpleNamespace(client=lambda *a, **k: _S3Client(), url="http://s3.local")
    ctx = SimpleNamespace(engine=_Engine(), s3=s3, logs=s3, workdir=tmp_path,
                          server_id="unit", region="us-east-1", gateway_image="base:latest")
    return JobService(cast(RunnerContext, ctx))


def add_job(service: JobService, name: str, status: JobStatus = JobStatus.COMPLETED,
            created: float = 0.0, tags: list[dict[str, str]] | None = None) -> TrainingJob:
    spec = parse_spec({"TrainingJobName": name, "RoleArn": "r"})
    job = TrainingJob(spec, contract.training_job_arn(name), created,
                      status=status, last_modified_time=created, tags=list(tags or []))
    runner = SimpleNamespace(lock=threading.Lock(), thread=threading.Thread(target=print),
                             request_stop=lambda: None)
    service.store.add(job)
    service._runners[name.lower()] = runner  # type: ignore[assignment]
    return job


def test_delete_finished_job_frees_the_name(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    add_job(service, "done")
    assert service.delete_training_job({"TrainingJobName": "DONE"}) == {}
    with pytest.raises(ValidationException, match=r"^Requested resource not found\.$"):
        service.describe_training_job({"TrainingJobName": "done"})
    assert service.list_training_jobs({})["TrainingJobSummaries"] == []
    with pytest.raises(ResourceNotFound):
        service.delete_training_job({"TrainingJobName": "done"})


@pytest.mark.parametrize("status", [JobStatus.IN_PROGRESS, JobStatus.STOPPING])
def test_delete_unfinished_job_is_refused(tmp_path: Path, status: JobStatus) -> None:
    service = make_service(tmp_path)
    add_job(service, "running", status)
    with pytest.raises(ValidationException, match=f"is in status {status.value}"):
        service.delete_training_job({"TrainingJobName": "running"})
    assert service.store.get("running") is not None


def test_reset_forgets_finished_jobs_and_their_work_dirs_but_not_running_ones(
        tmp_path: Path) -> None:
    service = make_service(tmp_path)
    for name, status in (("done", JobStatus.COMPLETED), ("broke", JobStatus.FAILED),
                         ("halted", JobStatus.STOPPED), ("busy", JobStatus.IN_PROGRESS),
                         ("ending", JobStatus.STOPPING)):
        add_job(service, name, status)
        (tmp_path / name / "attempt-1").mkdir(parents=True)
        (tmp_path / name / "attempt-1" / "left-over").write_text("x")

    outcome = service.reset()

    assert sorted(outcome["Removed"]) == ["broke", "done", "halted"]
    assert sorted(outcome["Running"]) == ["busy", "ending"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "ending"]
    assert (tmp_path / "busy" / "attempt-1" / "left-over").exists()
    assert [j.name for j in service.store.all()] == ["busy", "ending"]
    for name in ("done", "broke", "halted"):
        with pytest.raises(ValidationException, match="Requested resource not found"):
            service.describe_training_job({"TrainingJobName": name})
    assert service.reset() == {"Removed": [], "Running": ["busy", "ending"]}


def test_tags_add_list_delete(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    job = add_job(service, "tagged", tags=[{"Key": "team", "Value": "ml"}])
    arn = job.arn
    service.add_tags({"ResourceArn": arn, "Tags": [{"Key": "team", "Value": "research"},
                                                   {"Key": "cost", "Value": "1"}]})
    assert service.list_tags({"ResourceArn": arn})["Tags"] == [
        {"Key": "team", "Value": "research"}, {"Key": "cost", "Value": "1"}]
    service.delete_tags({"ResourceArn": arn, "TagKeys": ["team", "absent"]})
    assert service.list_tags({"ResourceArn": arn})["Tags"] == [{"Key": "cost", "Value": "1"}]
    with pytest.raises(ValidationException, match="does not exist"):
        service.list_tags({"ResourceArn": arn.replace("tagged", "other")})
    with pytest.raises(ValidationException, match="training jobs only"):
        service.list_tags({"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m"})
    many = [{"Key": f"k{i}", "Value": ""} for i in range(50)]
    with pytest.raises(ValidationException, match="at most 50 tags"):
        service.add_tags({"ResourceArn": arn, "Tags": many})


def test_list_tags_pages(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    job = add_job(service, "t", tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    every = [f"k{i}" for i in range(50)]
    for params in ({}, {"MaxResults": 50}):
        page = service.list_tags({"ResourceArn": job.arn, **params})
        assert [t["Key"] for t in page["Tags"]] == every and "NextToken" not in page
    # AWS's model: MaxResults is at least 50, the most tags a job holds, so one page holds all.
    with pytest.raises(ValidationException, match=(
            r"Value '20' at 'maxResults' failed to satisfy constraint: Member must have value "
            r"greater than or equal to 50")):
        service.list_tags({"ResourceArn": job.arn, "MaxResults": 20})
    # A NextToken resumes where it points; a forged one is refused in AWS's words.
    rest = service.list_tags({"ResourceArn": job.arn, "MaxResults": 50,
                              "NextToken": encode_token(20)})
    assert [t["Key"] for t in rest["Tags"]] == every[20:] and "NextToken" not in rest
    with pytest.raises(ValidationException, match=r"^Invalid pagination token$"):
        service.list_tags({"ResourceArn": job.arn, "NextToken": "not-a-token"})


def test_list_filters_sorts_and_pages(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    add_job(service, "b-job", created=2.0)
    add_job(service, "a-job", JobStatus.FAILED, created=3.0)
    add_job(service, "c-job", created=1.0)
    add_job(service, "other", created=4.0)

    def names(**params: Any) -> list[str]:
        return [s["TrainingJobName"]
                for s in service.list_training_jobs(params)["TrainingJobSummaries"]]

    assert names() == ["c-job", "b-job", "a-job", "other"]
    assert names(SortBy="Name", SortOrder="Descending", NameContains="JOB") == [
        "c-job", "b-job", "a-job"]
    assert names(StatusEquals="Failed") == ["a-job"]
    assert names(CreationTimeAfter=1.0, CreationTimeBefore=4.0) == ["b-job", "a-job"]
    assert names(LastModifiedTimeAfter=3.5) == ["other"]
    assert names(WarmPoolStatusEquals="Available") == []
    page = service.list_training_jobs({"MaxResults": 3})
    assert len(page["TrainingJobSummaries"]) == 3
    rest = service.list_training_jobs({"MaxResults": 3, "NextToken": page["NextToken"]})
    assert [s["TrainingJobName"] for s in rest["TrainingJobSummaries"]] == ["other"]
    assert "NextToken" not in rest
    with pytest.raises(ValidationException, match="pagination token"):
        service.list_training_jobs({"NextToken": "garbage!"})


def test_describe_fills_service_defaults(tmp_path: Path) -> None:
    job = TrainingJob(parse_spec({
        "TrainingJobName": "d",
        "AlgorithmSpecification": {"TrainingImage": "i", "TrainingInputMode": "File"},
        "OutputDataConfig": {"S3OutputPath": "s3://b/o"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://b/d"}}}],
        "HyperParameters": {"a": "1"},
    }), "arn", 1.5004)
    out = describe(job, "s3://b/o/d/output/model.tar.gz")
    assert out["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert out["OutputDataConfig"]["KmsKeyId"] == ""
    assert out["InputDataConfig"][0]["RecordWrapperType"] == "None"
    assert out["AlgorithmSpecification"]["EnableSageMakerMetricsTimeSeries"] is False
    assert out["EnableManagedSpotTraining"] is False
    assert out["InputDataConfig"][0]["DataSource"]["S3DataSource"][
        "S3DataDistributionType"] == "FullyReplicated"
    assert out["CreationTime"] == 1.5
    assert "TrainingTimeInSeconds" not in out  # shown once the job has ended
    assert "StoppingCondition" not in job.request  # the stored request is not changed


GOOD = {
    "TrainingJobName": "ok",
    "AlgorithmSpecification": {"TrainingImage": "present:latest", "TrainingInputMode": "File"},
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "OutputDataConfig": {"S3OutputPath": "s3://there/out"},
    "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
}


def _with(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


@pytest.mark.parametrize(("target", "body", "code"), [
    ("SageMaker.CreateTrainingJob", b"\xff\xfe\x00garbage", "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"{not json", "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"[" * 100000 + b"]" * 100000, "SerializationException"),
    ("SageMaker.CreateTrainingJob", b'{"TrainingJobName": ' + b"9" * 5000 + b"}",
     "SerializationException"),
    ("SageMaker.CreateTrainingJob", b"[1, 2]", "SerializationException"),
    ("SageMaker.CreateTrainingJob", b'"text"', "SerializationException"),
    ("SageMaker.CreateTrainingJob", _with(StoppingCondition={"MaxRuntimeInSeconds": 1e400}),
     "SerializationException"),
    ("SageMaker.CreateTrainingJob", _with(StoppingCondition={"MaxRuntimeInSeconds": 2**80}),
     "SerializationException"),
    ("SageMaker.CreateTrainingJob", _with(StoppingCondition={"MaxRuntimeInSeconds": "x"}),
     "SerializationException"),
    ("SageMaker.CreateTrainingJob", _with(HyperParameters={"a": 1}), "SerializationException"),
    ("SageMaker.CreateTrainingJob", _with(OutputDataConfig={"S3OutputPath": "s3://a b/o"}),
     "ValidationException"),
    ("SageMaker.CreateTrainingJob", _with(AlgorithmSpecification={
        "TrainingImage": "absent:1", "TrainingInputMode": "File"}), "ValidationException"),
    ("SageMaker.CreateTrainingJob", _with(AlgorithmSpecification={
        "TrainingImage": "present:latest", "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "m", "Regex": "(unclosed"}]}), "ValidationException"),
    ("SageMaker.CreateTrainingJob", _with(ResourceConfig=[]), "SerializationException"),
    ("SageMaker.ListTrainingJobs", b'{"NextToken": "e30="}', "ValidationException"),
    ("SageMaker.ListTrainingJobs", b'{"MaxResults": 1000}', "ValidationException"),
    ("SageMaker.ListTrainingJobs", b'{"CreationTimeAfter": 1' + b"0" * 400 + b"}", None),
    ("SageMaker.ListTrainingJobs", b'{"MaxResults": 1' + b"0" * 400 + b"}",
     "SerializationException"),
    ("SageMaker.ListTrainingJobs", b'{"CreationTimeAfter": "yesterday"}',
     "SerializationException"),
    ("SageMaker.ListTags", b'{"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:x"}',
     "ValidationException"),
    ("SageMaker.DeleteTrainingJob", b"{}", "ValidationException"),
    ("SageMaker.NoSuchOperation", b"{}", "UnknownOperationException"),
    ("", b"{}", "UnknownOperationException"),
    ("sagemaker.ListTrainingJobs", b"{}", "UnknownOperationException"),
])
def test_bad_requests_never_give_5xx(tmp_path: Path, target: str, body: bytes,
                                     code: str | None) -> None:
    status, answer = SageMakerHandler(make_service(tmp_path)).handle(target, body)
    if code is None:
        assert status == 200, answer
        return
    assert (status, answer["__type"]) == (400, code), answer
    assert answer["message"]


def test_image_message_names_docker_build_and_pull(tmp_path: Path) -> None:
    body = _with(AlgorithmSpecification={"TrainingImage": "absent:1", "TrainingInputMode": "File"})
    _, answer = SageMakerHandler(make_service(tmp_path)).handle("SageMaker.CreateTrainingJob", body)
    assert "docker build" in answer["message"] and "docker pull" in answer["message"]


def test_duplicate_name_wins_over_missing_image(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    add_job(service, "Taken")
    request = {**json.loads(_with(TrainingJobName="taken")),
               "AlgorithmSpecification": {"TrainingImage": "absent:1",
                                          "TrainingInputMode": "File"}}
    status, answer = SageMakerHandler(service).handle("SageMaker.CreateTrainingJob",
                                                      json.dumps(request).encode())
    assert (status, answer["__type"]) == (400, "ResourceInUse")
    assert answer["message"] == contract.duplicate_job_message(
        "arn:aws:sagemaker:us-east-1:123456789012:training-job/taken")


def test_empty_create_names_every_classic_required_member(tmp_path: Path) -> None:
    _, answer = SageMakerHandler(make_service(tmp_path)).handle("SageMaker.CreateTrainingJob",
                                                                b"{}")
    members = ["trainingJobName", "algorithmSpecification", "roleArn", "outputDataConfig",
               "resourceConfig", "stoppingCondition"]
    assert answer["message"] == "6 validation errors detected: " + "; ".join(
        f"Value null at '{m}' failed to satisfy constraint: Member must not be null"
        for m in members)


def test_not_found_is_worded_as_each_operation_words_it(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    with pytest.raises(ValidationException, match=r"^Requested resource not found\.$"):
        service.describe_training_job({"TrainingJobName": "nope"})
    expected = r"^Amazon SageMaker can't find a training job called nope\.$"
    with pytest.raises(ResourceNotFound, match=expected):
        service.stop_training_job({"TrainingJobName": "nope"})
    with pytest.raises(ResourceNotFound, match=expected):
        service.delete_training_job({"TrainingJobName": "nope"})
    with pytest.raises(ResourceNotFound, match=expected):
        service.interrupt_training_job("nope")


def test_model_artifacts_only_once_the_model_was_written(tmp_path: Path) -> None:
    service = make_service(tmp_path)
    job = add_job(service, "never", status=JobStatus.STOPPED)  # e.g. never launched
    assert "ModelArtifacts" not in service.describe_training_job({"TrainingJobName": "never"})
    job.model_artifacts = "s3://b/output/never/output/model.tar.gz"
    described = service.describe_training_job({"TrainingJobName": "never"})
    assert described["ModelArtifacts"] == {"S3ModelArtifacts": job.model_artifacts}
