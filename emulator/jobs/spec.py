"""The typed job spec: a CreateTrainingJob request read once, right after validation.

Everything below the job service reads a `JobSpec`, never the request dict. The request as
received stays in `JobSpec.request`, for DescribeTrainingJob to echo back and nothing else.
Defaults are SageMaker's (MaxRuntimeInSeconds 86400, TrainingInputMode File, ...), filled in
here once instead of at every reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from emulator import contract
from emulator.contract import DataDistribution
from emulator.jobs.settings import JobSettings
from emulator.runtime.staging import ChannelConfig, ContainerConfig

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_INPUT_MODE = "File"


@dataclass(frozen=True)
class Channel(ChannelConfig):
    """One input channel: what the container sees of it, and where its data comes from."""

    s3_uri: str = ""  # s3://, https:// or (an emulator extension) file://
    s3_data_type: str = "S3Prefix"  # S3Prefix | ManifestFile | AugmentedManifestFile

    @property
    def sharded(self) -> bool:
        return self.distribution == DataDistribution.SHARDED_BY_S3_KEY


@dataclass(frozen=True)
class CheckpointSpec:
    """CheckpointConfig: the prefix the checkpoint directory is mirrored to, and that path."""

    s3_uri: str
    local_path: str = contract.DEFAULT_CHECKPOINT_LOCAL_PATH


@dataclass(frozen=True)
class TensorBoardSpec:
    """TensorBoardOutputConfig: a directory mirrored to S3 while the job runs."""

    s3_uri: str
    local_path: str = contract.DEFAULT_TENSORBOARD_LOCAL_PATH


@dataclass(frozen=True)
class InstanceGroup:
    """One group of ResourceConfig.InstanceGroups (a heterogeneous cluster)."""

    name: str
    instance_type: str
    count: int


@dataclass(frozen=True)
class Resources:
    instance_type: str = DEFAULT_INSTANCE_TYPE  # a heterogeneous cluster: its first group's
    instance_count: int = 1  # a heterogeneous cluster: all its groups' instances
    volume_size_gb: int = 0
    groups: tuple[InstanceGroup, ...] = ()

    @property
    def hosts(self) -> tuple[str, ...]:
        """algo-1..algo-N, the hosts' names on SageMaker (groups numbered in request order)."""
        return tuple(f"algo-{i}" for i in range(1, self.instance_count + 1))

    def instance_type_of(self, host: str) -> str:
        for _, instance_type, hosts in self.group_hosts():
            if host in hosts:
                return instance_type
        return self.instance_type

    def host_types(self) -> dict[str, str]:
        """Each host's instance type (its group's in a heterogeneous cluster)."""
        return {host: self.instance_type_of(host) for host in self.hosts}

    def group_hosts(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(group name, instance type, hosts) of each group; () for a homogeneous cluster."""
        out, first = [], 1
        for group in self.groups:
            out.append((group.name, group.instance_type,
                        tuple(f"algo-{i}" for i in range(first, first + group.count))))
            first += group.count
        return tuple(out)


@dataclass(frozen=True)
class StoppingCondition:
    max_runtime_seconds: int = contract.DEFAULT_MAX_RUNTIME_S
    max_wait_seconds: int | None = None  # managed spot jobs only


@dataclass(frozen=True)
class MetricDefinition:
    """A metric SageMaker captures from the logs: the regex's first group (or its match)."""

    name: str
    regex: str


@dataclass(frozen=True)
class JobSpec:
    name: str
    image: str
    output_path: str  # OutputDataConfig.S3OutputPath
    resources: Resources = field(default_factory=Resources)
    stopping: StoppingCondition = field(default_factory=StoppingCondition)
    spot: bool = False
    network_isolation: bool = False
    checkpoint: CheckpointSpec | None = None
    tensorboard: TensorBoardSpec | None = None
    channels: tuple[Channel, ...] = ()
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    hyperparameters: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    entrypoint: tuple[str, ...] | None = None  # ContainerEntrypoint
    arguments: tuple[str, ...] | None = None  # ContainerArguments
    metric_definitions: tuple[MetricDefinition, ...] = ()
    retry_attempts: int = 0  # RetryStrategy.MaximumRetryAttempts: retries of internal failures
    settings: JobSettings = field(default_factory=JobSettings)  # the emulator's, from tags
    # The request as received: only DescribeTrainingJob reads it, to echo it back.
    request: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}),
                                       compare=False, repr=False)

    @property
    def hosts(self) -> tuple[str, ...]:
        return self.resources.hosts

    @property
    def checkpoint_uri(self) -> str | None:
        return self.checkpoint.s3_uri if self.checkpoint and self.checkpoint.s3_uri else None

    @property
    def max_runtime(self) -> float:
        return float(self.stopping.max_runtime_seconds)

    @property
    def max_wait(self) -> float | None:
        """MaxWaitTimeInSeconds, which only a managed spot job has."""
        wait = self.stopping.max_wait_seconds
        return float(wait) if self.spot and wait else None

    def container_config(self) -> ContainerConfig:
        """What /opt/ml/input/config holds on every host."""
        return ContainerConfig(
            hosts=self.hosts, instance_type=self.resources.instance_type,
            hyperparameters=self.hyperparameters, channels=self.channels,
            checkpoint_path=self.checkpoint.local_path if self.checkpoint else None,
            checkpoint_uri=self.checkpoint_uri, groups=self.resources.group_hosts())


def parse_spec(request: Mapping[str, Any], settings: JobSettings | None = None) -> JobSpec:
    """The spec of a validated CreateTrainingJob request (absent members take SageMaker's
    defaults); `settings` are the emulator's, already read from the request's tags."""
    algorithm = _member(request, "AlgorithmSpecification")
    resources = _member(request, "ResourceConfig")
    stopping = _member(request, "StoppingCondition")
    wait = stopping.get("MaxWaitTimeInSeconds")
    checkpoint = _member(request, "CheckpointConfig")
    tensorboard = _member(request, "TensorBoardOutputConfig")
    input_mode = str(algorithm.get("TrainingInputMode") or DEFAULT_INPUT_MODE)
    return JobSpec(
        name=str(request["TrainingJobName"]),
        image=str(algorithm.get("TrainingImage", "")),
        output_path=str(_member(request, "OutputDataConfig").get("S3OutputPath", "")),
        resources=_resources(resources),
        stopping=StoppingCondition(
            max_runtime_seconds=int(stopping.get("MaxRuntimeInSeconds",
                                                 contract.DEFAULT_MAX_RUNTIME_S)),
            max_wait_seconds=None if wait is None else int(wait)),
        spot=bool(request.get("EnableManagedSpotTraining")),
        network_isolation=bool(request.get("EnableNetworkIsolation")),
        checkpoint=CheckpointSpec(
            s3_uri=str(checkpoint.get("S3Uri") or ""),
            local_path=str(checkpoint.get("LocalPath") or contract.DEFAULT_CHECKPOINT_LOCAL_PATH),
        ) if checkpoint else None,
        tensorboard=TensorBoardSpec(
            s3_uri=str(tensorboard.get("S3OutputPath") or ""),
            local_path=str(tensorboard.get("LocalPath")
                           or contract.DEFAULT_TENSORBOARD_LOCAL_PATH),
        ) if tensorboard.get("S3OutputPath") else None,
        channels=tuple(_channel(c, input_mode) for c in request.get("InputDataConfig") or ()),
        environment=_strings(request.get("Environment")),
        # SageMaker passes every hyperparameter value as a string.
        hyperparameters=_strings(request.get("HyperParameters")),
        entrypoint=_words(algorithm.get("ContainerEntrypoint")),
        arguments=_words(algorithm.get("ContainerArguments")),
        metric_definitions=tuple(
            MetricDefinition(str(d["Name"]), str(d["Regex"]))
            for d in algorithm.get("MetricDefinitions") or () if "Name" in d and "Regex" in d),
        retry_attempts=int(_member(request, "RetryStrategy").get("MaximumRetryAttempts") or 0),
        settings=settings or JobSettings(),
        request=MappingProxyType(_plain_copy(request)),
    )


def _resources(resources: Mapping[str, Any]) -> Resources:
    groups = tuple(InstanceGroup(str(g["InstanceGroupName"]), str(g["InstanceType"]),
                                 int(g.get("InstanceCount") or 0))
                   for g in resources.get("InstanceGroups") or () if g.get("InstanceCount"))
    volume = int(resources.get("VolumeSizeInGB") or 0)
    if groups:
        return Resources(instance_type=groups[0].instance_type,
                         instance_count=sum(g.count for g in groups), volume_size_gb=volume,
                         groups=groups)
    return Resources(instance_type=str(resources.get("InstanceType", DEFAULT_INSTANCE_TYPE)),
                     instance_count=int(resources.get("InstanceCount") or 1),
                     volume_size_gb=volume)


def _channel(channel: Mapping[str, Any], default_mode: str) -> Channel:
    source = _member(_member(channel, "DataSource"), "S3DataSource")
    return Channel(
        name=str(channel["ChannelName"]),
        input_mode=str(channel.get("InputMode") or default_mode),
        distribution=DataDistribution(
            source.get("S3DataDistributionType") or DataDistribution.FULLY_REPLICATED),
        content_type=str(channel["ContentType"]) if channel.get("ContentType") else None,
        record_wrapper_type=str(channel.get("RecordWrapperType", "None")),
        s3_uri=str(source.get("S3Uri", "")),
        s3_data_type=str(source.get("S3DataType", "S3Prefix")),
        instance_groups=tuple(str(n) for n in source.get("InstanceGroupNames") or ()),
    )


def _plain_copy(value: Any) -> Any:
    """A deep copy in JSON's shapes (a tuple becomes a list), as a store would give it back."""
    if isinstance(value, Mapping):
        return {k: _plain_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_copy(v) for v in value]
    return value


def _member(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, Mapping) else {}


def _strings(values: Mapping[str, Any] | None) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in (values or {}).items()})


def _words(values: Any) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)
