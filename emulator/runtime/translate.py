"""Pure translation of one host of one attempt into Docker SDK keyword arguments."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator import contract
from emulator.errors import EmulatorError
from emulator.runtime import labels as L
from emulator.runtime.gpus import gpu_kwargs
from emulator.runtime.staging import HostDirs


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    host: str  # algo-N: hostname and network alias
    dirs: HostDirs
    environment: dict[str, str]
    labels: dict[str, str]
    network: str | None
    checkpoint_path: str | None = None  # container path bound to dirs.checkpoints
    entrypoint: list[str] | None = None
    arguments: list[str] | None = None
    extra_mounts: dict[str, str] = field(default_factory=dict)  # host path -> container path
    gpus: int = 0  # GPUs 0..gpus-1 through the NVIDIA runtime (a ml.g*/ml.p* instance type)
    # (host directory, container path): the user's code, read-only. A Mount, not a volume
    # bind: a missing source fails the start instead of appearing as an empty directory.
    code_mount: tuple[str, str] | None = None
    # Multi-instance jobs: this host's fixed address and every host's, written to /etc/hosts
    # so each host resolves the others from its first instruction (as on SageMaker), not
    # only once their containers have started.
    address: str | None = None
    peers: dict[str, str] = field(default_factory=dict)
    # --instance-limits: the instance type's CPUs and memory (None: the whole machine).
    cpus: float | None = None
    memory_bytes: int | None = None


# Every container smemu starts: never privileged, never able to gain privileges (setuid
# binaries, file capabilities), and never the Docker socket (refused as a mount).
CONTAINMENT: dict[str, Any] = {"privileged": False, "security_opt": ["no-new-privileges:true"]}
DOCKER_SOCKET_NAMES = ("docker.sock",)

GATEWAY_HOST = "smemu-endpoint"  # the gateway's alias on every job network
GATEWAY_PORT = 4590
GATEWAY_SOCKET_DIR = "/run/smemu"
GATEWAY_SCRIPT = "/opt/smemu/gateway_forwarder.py"


def gateway_url() -> str:
    return f"http://{GATEWAY_HOST}:{GATEWAY_PORT}"


def container_environment(job_name: str, job_arn: str, region: str,
                          environment: Mapping[str, str],
                          endpoint_url: str | None = None,
                          credentials: tuple[str, str] = ("smemu", "smemu")) -> dict[str, str]:
    """What the platform sets, then the job's Environment (which wins on a clash).

    With an endpoint URL, boto3 inside the container talks to the emulator (S3 and the rest)
    with the endpoint's keys (`smemu serve --auth`, else dummy ones), the way an instance role
    would just work on SageMaker.
    """
    env = {
        contract.ENV_JOB_NAME: job_name,
        contract.ENV_JOB_ARN: job_arn,
        contract.ENV_REGION: region,
        "AWS_DEFAULT_REGION": region,
    }
    if endpoint_url:
        env.update({
            "AWS_ENDPOINT_URL": endpoint_url,
            "AWS_ENDPOINT_URL_S3": endpoint_url,
            "AWS_ACCESS_KEY_ID": credentials[0],
            "AWS_SECRET_ACCESS_KEY": credentials[1],
        })
    env.update(environment)
    return env


def command_of(spec: ContainerSpec) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, command): SageMaker runs `IMAGE train` unless ContainerEntrypoint is set."""
    if spec.entrypoint:
        return spec.entrypoint, spec.arguments
    return None, spec.arguments or [contract.TRAIN_COMMAND]


def volumes(spec: ContainerSpec) -> dict[str, dict[str, str]]:
    # Bind the subdirectories only: the image's own files elsewhere under /opt/ml stay visible.
    binds = {
        str(spec.dirs.input): contract.INPUT_DIR,
        str(spec.dirs.model): contract.MODEL_DIR,
        str(spec.dirs.output): contract.OUTPUT_DIR,
    }
    if spec.checkpoint_path is not None:
        binds[str(spec.dirs.checkpoints)] = spec.checkpoint_path.rstrip("/") or "/"
    binds.update(spec.extra_mounts)
    for host in binds:
        refuse_docker_socket(host)
    return {host: {"bind": target, "mode": "rw"} for host, target in binds.items()}


def refuse_docker_socket(host_path: str) -> None:
    """A training container with the Docker socket owns the machine: refuse it as a mount."""
    if host_path.rstrip("/").rsplit("/", 1)[-1] in DOCKER_SOCKET_NAMES:
        raise EmulatorError(f"refusing to mount the Docker socket {host_path} into a "
                            "training container")


def container_kwargs(spec: ContainerSpec) -> dict[str, Any]:
    entrypoint, command = command_of(spec)
    kwargs: dict[str, Any] = {
        "image": spec.image,
        "name": spec.name,
        "hostname": spec.host,
        "command": command,
        "environment": dict(spec.environment),
        "labels": {**spec.labels, L.HOST: spec.host},
        "volumes": volumes(spec),
        "detach": True,
        **_containment(),
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    limits = limit_kwargs(spec.cpus, spec.memory_bytes)
    kwargs["labels"].update(limits.pop("labels", {}))
    kwargs.update(limits)
    if spec.gpus:
        gpu = gpu_kwargs(spec.gpus)
        kwargs["device_requests"] = gpu["device_requests"]
        kwargs["environment"].update(gpu["environment"])
    if spec.code_mount is not None:
        source, target = spec.code_mount
        refuse_docker_socket(source)
        kwargs["mounts"] = [{"Type": "bind", "Source": source, "Target": target,
                             "ReadOnly": True}]
    if spec.network is None:
        kwargs["network_mode"] = "none"
    else:
        endpoint: dict[str, Any] = {"Aliases": [spec.host]}
        if spec.address:
            endpoint["IPAMConfig"] = {"IPv4Address": spec.address}
        kwargs["network"] = spec.network
        kwargs["networking_config"] = {spec.network: endpoint}
        if spec.peers:
            kwargs["extra_hosts"] = dict(spec.peers)
    return kwargs


def limit_kwargs(cpus: float | None, memory_bytes: int | None) -> dict[str, Any]:
    """A CPU quota and a memory limit, labelled. The swap limit equals the memory limit: a
    SageMaker instance has no swap, so a script past its memory is OOM-killed, not slowed."""
    kwargs: dict[str, Any] = {}
    labels: dict[str, str] = {}
    if cpus is not None:
        kwargs["nano_cpus"] = round(cpus * 1e9)
        labels[L.CPU_LIMIT] = f"{cpus:g}"
    if memory_bytes is not None:
        kwargs["mem_limit"] = kwargs["memswap_limit"] = int(memory_bytes)
        labels[L.MEMORY_LIMIT] = str(int(memory_bytes))
    return {**kwargs, **({"labels": labels} if labels else {})}


def gateway_kwargs(name: str, image: str, network: str, socket_path: str, script_path: str,
                   labels: dict[str, str]) -> dict[str, Any]:
    """The S3 gateway: TCP on the job network, piped to the endpoint's unix socket."""
    socket_dir, _, socket_name = socket_path.rpartition("/")
    return {
        "image": image,
        "name": name,
        "entrypoint": ["python3", GATEWAY_SCRIPT],
        "command": [str(GATEWAY_PORT), f"{GATEWAY_SOCKET_DIR}/{socket_name}"],
        "labels": {**labels, L.HOST: GATEWAY_HOST},
        "volumes": {
            socket_dir: {"bind": GATEWAY_SOCKET_DIR, "mode": "rw"},
            script_path: {"bind": GATEWAY_SCRIPT, "mode": "ro"},
        },
        "network": network,
        "networking_config": {network: {"Aliases": [GATEWAY_HOST]}},
        "detach": True,
        **_containment(),
    }


def _containment() -> dict[str, Any]:
    return {key: list(value) if isinstance(value, list) else value
            for key, value in CONTAINMENT.items()}


def network_kwargs(name: str, labels: dict[str, str], subnet: str | None = None,
                   gateway: str | None = None) -> dict[str, Any]:
    """internal: containers reach each other and nothing off the machine. With a subnet, the
    network is pinned to it and hands out dynamic addresses from its lower half only, leaving
    the upper half for the hosts' fixed addresses (host_addresses)."""
    kwargs: dict[str, Any] = {"name": name, "driver": "bridge", "internal": True,
                              "labels": dict(labels)}
    if subnet:
        pool = {"Subnet": subnet, "IPRange": str(next(ipaddress.ip_network(subnet).subnets()))}
        if gateway:
            pool["Gateway"] = gateway
        kwargs["ipam"] = {"Driver": "default", "Config": [pool], "Options": {}}
    return kwargs


def host_addresses(subnet: str, hosts: list[str]) -> dict[str, str]:
    """Fixed addresses for algo-1..N at the top of the subnet (outside the dynamic range)."""
    network = ipaddress.ip_network(subnet)
    room = network.num_addresses // 2 - 1  # the upper half, but its broadcast address
    if len(hosts) > room:
        raise EmulatorError(
            f"the job network's subnet {subnet} is too small for {len(hosts)} hosts with fixed "
            f"addresses (at most {room}); give Docker larger default-address-pools")
    top = network.broadcast_address
    return {host: str(top - number) for number, host in enumerate(hosts, start=1)}
