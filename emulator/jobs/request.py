"""A CreateTrainingJob request from `smemu run` flags or `emulator.testing.run_job` arguments
(pure: no I/O but reading a request file). Client side: the CLI and the testing library build
with it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator import contract
from emulator.errors import EmulatorError
from emulator.jobs.request_rules import s3_uris
from emulator.jobs.settings import TAG_PREFIX, JobSettings
from emulator.s3uri import parse_s3_uri

DEFAULT_OUTPUT_PATH = f"s3://sagemaker-{contract.DEFAULT_REGION}-{contract.DEFAULT_ACCOUNT}/output"


@dataclass
class RunOptions:
    image: str | None = None
    job_name: str | None = None
    hyperparameters: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    output_path: str | None = None
    checkpoint_s3_uri: str | None = None
    checkpoint_local_path: str | None = None
    instance_type: str | None = None
    instance_count: int | None = None
    volume_size_gb: int | None = None
    max_run: int | None = None
    spot: bool = False
    max_wait: int | None = None
    role_arn: str | None = None
    request_file: Path | None = None


def parse_pairs(values: tuple[str, ...] | list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise EmulatorError(f"{flag} expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def generated_job_name(image: str) -> str:
    """<image-base>-<timestamp>, the SDK's way, trimmed to fit the 63-character name limit."""
    base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    base = "".join(c if c.isalnum() else "-" for c in base).strip("-") or "smemu"
    now = time.time()
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime(now)) + f"-{int(now * 1000) % 1000:03d}"
    return f"{base[: 62 - len(stamp)]}-{stamp}"


def check_instance_type(instance_type: Any, source: str,
                        enum_values: Callable[[str], list[str]] | None = None) -> None:
    """A short error with the closest names: the service's own message lists all ~200 types.

    enum_values: where the model's enums come from; default the endpoint's full model
    (the CLI passes its trimmed one's, emulator.cli.botocore_models)."""
    import difflib

    if enum_values is None:
        from emulator.validation import enum_values as full_model_enum_values

        enum_values = full_model_enum_values
    allowed = enum_values("TrainingInstanceType")
    if instance_type in allowed:
        return
    closest = difflib.get_close_matches(str(instance_type), allowed, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(closest)}?" if closest else \
        " (they look like ml.m5.large)"
    raise EmulatorError(
        f"{source} {instance_type!r} is not a SageMaker training instance type{hint}")


def load_request_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise EmulatorError(f"cannot read {path}: {err.strerror}") from err
    except ValueError as err:
        raise EmulatorError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise EmulatorError(f"{path} must hold a JSON object (a CreateTrainingJob request)")
    return data


def build_request(options: RunOptions, settings: JobSettings, explicit: Collection[str] = (),
                  enum_values: Callable[[str], list[str]] | None = None) -> dict[str, Any]:
    """Flags override the request file; what neither gives gets SageMaker-like defaults.
    enum_values: see check_instance_type."""
    request = load_request_file(options.request_file) if options.request_file else {}
    algorithm = request.setdefault("AlgorithmSpecification", {})
    if options.image:
        algorithm["TrainingImage"] = options.image
    algorithm.setdefault("TrainingInputMode", "File")
    image = algorithm.get("TrainingImage")
    if not image:
        raise EmulatorError("no training image: pass --image (or TrainingImage in --request)")
    if options.job_name:
        request["TrainingJobName"] = options.job_name
    request.setdefault("TrainingJobName", generated_job_name(image))
    request.setdefault("RoleArn", options.role_arn or contract.DEFAULT_ROLE_ARN)
    if options.role_arn:
        request["RoleArn"] = options.role_arn
    output = request.setdefault("OutputDataConfig", {})
    if options.output_path:
        output["S3OutputPath"] = options.output_path
    output.setdefault("S3OutputPath", DEFAULT_OUTPUT_PATH)
    resources = request.setdefault("ResourceConfig", {})
    grouped = "InstanceGroups" in resources  # a heterogeneous cluster names no InstanceType
    for key, value, default in (
        ("InstanceType", options.instance_type, None if grouped else "ml.m5.large"),
        ("InstanceCount", options.instance_count, None if grouped else 1),
        ("VolumeSizeInGB", options.volume_size_gb, 30),
    ):
        if value is not None:
            resources[key] = value
        if default is not None:
            resources.setdefault(key, default)
    if "InstanceType" in resources:
        check_instance_type(resources["InstanceType"], "--instance-type" if options.instance_type
                            else "ResourceConfig.InstanceType", enum_values)
    stopping = request.setdefault("StoppingCondition", {})
    if options.max_run is not None:
        stopping["MaxRuntimeInSeconds"] = options.max_run
    stopping.setdefault("MaxRuntimeInSeconds", contract.DEFAULT_MAX_RUNTIME_S
                        if not (options.spot or request.get("EnableManagedSpotTraining"))
                        else min(contract.DEFAULT_MAX_RUNTIME_S, options.max_wait or 3600))
    if options.max_wait is not None:
        stopping["MaxWaitTimeInSeconds"] = options.max_wait
    if options.spot:
        request["EnableManagedSpotTraining"] = True
    if options.hyperparameters:
        request.setdefault("HyperParameters", {}).update(options.hyperparameters)
    if options.environment:
        request.setdefault("Environment", {}).update(options.environment)
    if options.checkpoint_s3_uri or options.checkpoint_local_path:
        checkpoint = request.setdefault("CheckpointConfig", {})
        if options.checkpoint_s3_uri:
            checkpoint["S3Uri"] = options.checkpoint_s3_uri
        if options.checkpoint_local_path:
            checkpoint["LocalPath"] = options.checkpoint_local_path
    emulator_tags = settings.to_tags(explicit)
    given = {t["Key"] for t in emulator_tags}
    tags = [t for t in request.get("Tags", []) if not str(t.get("Key", "")).startswith(TAG_PREFIX)
            or t["Key"] not in given]
    tags.extend(emulator_tags)
    if tags:
        request["Tags"] = tags
    return request


def request_buckets(request: dict[str, Any]) -> list[str]:
    """The buckets the job reads or writes, each once (to create them before the job)."""
    return list(dict.fromkeys(parse_s3_uri(uri, allow_https=True).bucket
                              for uri in s3_uris(request)))
