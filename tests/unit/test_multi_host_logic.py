"""Pure pieces of multi-instance jobs: shards, fixed addresses, merged verdicts, merged tars."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from emulator.jobs.channels import channel_shard
from emulator.jobs.confined_copy import copy_confined
from emulator.jobs.host_paths import HostPaths
from emulator.jobs.model import Attempt, CheckpointFile
from emulator.jobs.resume import RESUMED, SCRATCH, merge_hosts, overwrite_conflicts
from emulator.jobs.spec import Channel, parse_spec
from emulator.runtime.staging import HostDirs
from emulator.runtime.translate import (
    ContainerSpec,
    container_kwargs,
    host_addresses,
    network_kwargs,
)
from emulator.storage.artifacts import download_prefix, take_shard, tar_directory


def test_shards_are_disjoint_complete_and_in_key_order() -> None:
    keys = [f"k{i:02d}" for i in range(11)][::-1]
    shards = [take_shard(keys, (i, 3)) for i in range(3)]
    assert shards[0] == ["k00", "k03", "k06", "k09"]
    assert sorted(k for s in shards for k in s) == sorted(keys)
    assert take_shard(keys, None) == keys


def channel(source: dict[str, Any]) -> Channel:
    request = {"TrainingJobName": "j", "InputDataConfig": [
        {"ChannelName": "c", "DataSource": {"S3DataSource": source}}]}
    return parse_spec(request).channels[0]


def test_only_sharded_channels_on_several_hosts_are_split() -> None:
    assert channel_shard(channel({"S3DataDistributionType": "ShardedByS3Key"}), 1, 2) == (1, 2)
    assert channel_shard(channel({"S3DataDistributionType": "ShardedByS3Key"}), 0, 1) is None
    assert channel_shard(channel({"S3DataDistributionType": "FullyReplicated"}), 1, 2) is None
    assert channel_shard(channel({}), 1, 2) is None


def test_local_channel_shards(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("a", "b", "sub/c", "sub/d"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    copy_confined(HostPaths.of([tmp_path]), str(source), tmp_path / "h2", (1, 2))
    found = sorted(p.relative_to(tmp_path / "h2").as_posix()
                   for p in (tmp_path / "h2").rglob("*") if p.is_file())
    assert found == ["b", "sub/d"]


def test_host_names_and_fixed_addresses_outside_the_dynamic_range() -> None:
    hosts = list(parse_spec({"TrainingJobName": "j", "ResourceConfig": {"InstanceCount": 3}}).hosts)
    assert hosts == ["algo-1", "algo-2", "algo-3"]
    assert list(parse_spec({"TrainingJobName": "j"}).hosts) == ["algo-1"]
    addresses = host_addresses("172.20.0.0/16", hosts)
    assert addresses == {"algo-1": "172.20.255.254", "algo-2": "172.20.255.253",
                         "algo-3": "172.20.255.252"}
    pool = network_kwargs("n", {}, "172.20.0.0/16", "172.20.0.1")["ipam"]["Config"][0]
    assert pool == {"Subnet": "172.20.0.0/16", "IPRange": "172.20.0.0/17",
                    "Gateway": "172.20.0.1"}
    assert "ipam" not in network_kwargs("n", {})


def test_container_gets_its_address_and_its_peers_in_etc_hosts(tmp_path: Path) -> None:
    spec = ContainerSpec(name="c", image="i", host="algo-2", dirs=HostDirs(tmp_path),
                         environment={}, labels={}, network="net", address="10.0.0.253",
                         peers={"algo-1": "10.0.0.254"})
    kwargs = container_kwargs(spec)
    assert kwargs["hostname"] == "algo-2"
    assert kwargs["networking_config"] == {"net": {
        "Aliases": ["algo-2"], "IPAMConfig": {"IPv4Address": "10.0.0.253"}}}
    assert kwargs["extra_hosts"] == {"algo-1": "10.0.0.254"}


def _view(host: str, resume: str, uploads: list[str], flags: list[str]) -> Attempt:
    view = Attempt(2, 0.0, host=host, resume=resume, flags=flags)
    view.uploaded = [CheckpointFile(p, 1, host=host) for p in uploads]
    view.restored = [CheckpointFile("ckpt-algo-1", 1)]
    return view


def test_merged_verdicts_keep_the_host_and_find_overwrite_conflicts() -> None:
    views = [_view("algo-1", RESUMED, ["ckpt-algo-1", "shared"], []),
             _view("algo-2", SCRATCH, ["ckpt-algo-2", "shared"],
                   ["restarted from scratch: none of the restored checkpoint files was read",
                    "torn checkpoint (being written when the container died): x"])]
    views[1].torn = ["x"]
    attempt = Attempt(2, 0.0)
    merge_hosts(attempt, views)
    assert attempt.resume == RESUMED  # one host loading (and broadcasting) is a resume
    assert attempt.torn == ["algo-2:x"]
    assert attempt.conflicts == [
        "shared written by algo-1 and algo-2 to the same S3 key (the last upload wins; name "
        "checkpoint files per host, e.g. by SM_CURRENT_HOST)"]
    assert attempt.flags == [
        "algo-2: torn checkpoint (being written when the container died): x",
        "overwrite conflict: " + attempt.conflicts[0]]
    assert [h["Host"] for h in attempt.to_dict()["Hosts"]] == ["algo-1", "algo-2"]


def test_deleting_a_key_another_host_wrote_is_a_conflict() -> None:
    a = _view("algo-1", RESUMED, ["m"], [])
    b = _view("algo-2", RESUMED, [], [])
    b.deleted = ["m"]
    assert overwrite_conflicts([a, b])[0].startswith("m written by algo-1 and algo-2")
    assert overwrite_conflicts([a, _view("algo-2", RESUMED, ["n"], [])]) == []


def test_merged_model_tar_keeps_the_first_hosts_file(tmp_path: Path) -> None:
    one, two = tmp_path / "1", tmp_path / "2"
    for root, text in ((one, "one"), (two, "two")):
        (root / "sub").mkdir(parents=True)
        (root / "common.txt").write_text(text)
        (root / "sub" / f"{text}.bin").write_text(text)
    tar_directory([one, two], tmp_path / "m.tar.gz")
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        names = sorted(m.name for m in tar.getmembers())
        common = tar.extractfile("common.txt")
        assert common is not None and common.read() == b"one"
    assert names == ["common.txt", "sub", "sub/one.bin", "sub/two.bin"]


def test_channel_download_shards_and_stops_between_objects(client: Any, tmp_path: Path) -> None:
    client.create_bucket(Bucket="chan")
    for i in range(6):
        client.put_object(Bucket="chan", Key=f"data/p{i}", Body=b"x")
    assert download_prefix(client, "s3://chan/data/", tmp_path / "h2", (1, 2)) == 3
    assert sorted(p.name for p in (tmp_path / "h2").iterdir()) == ["p1", "p3", "p5"]
    polls = iter([False, False, True])
    count = download_prefix(client, "s3://chan/data/", tmp_path / "stop",
                            cancelled=lambda: next(polls))
    assert count == 2  # a stop during Downloading does not wait for the whole channel


class _FakeNetworks:
    """docker-py's client.networks: hands out subnets like Docker's default pools do."""

    def __init__(self, configs: list[list[dict[str, str]]], overlaps: int = 0) -> None:
        self.configs = configs  # the IPAM Config of each automatic network, in turn
        self.overlaps = overlaps  # explicit-subnet creations that lose a race first
        self.live: dict[str, Any] = {}
        self.created: list[dict[str, Any]] = []

    def create(self, **kwargs: Any) -> Any:
        import docker.errors

        self.created.append(kwargs)
        if "ipam" in kwargs and self.overlaps:
            self.overlaps -= 1
            raise docker.errors.APIError(
                "Pool overlaps with other one on this address space")
        config = kwargs["ipam"]["Config"] if "ipam" in kwargs else self.configs.pop(0)
        network = _FakeNetwork(self, kwargs["name"], config)
        self.live[network.name] = network
        return network


class _FakeNetwork:
    def __init__(self, owner: _FakeNetworks, name: str, config: list[dict[str, str]]) -> None:
        self.owner, self.name = owner, name
        self.attrs = {"IPAM": {"Config": config}}

    def reload(self) -> None:
        pass

    def remove(self) -> None:
        self.owner.live.pop(self.name, None)


def _engine(networks: _FakeNetworks) -> Any:
    from emulator.runtime.engine import DockerEngine

    class Client:
        pass

    client = Client()
    client.networks = networks  # type: ignore[attr-defined]
    return DockerEngine(client)  # type: ignore[arg-type]


V4 = {"Subnet": "172.21.0.0/16", "Gateway": "172.21.0.1"}
V6 = {"Subnet": "fd00:dead:beef::/64", "Gateway": "fd00:dead:beef::1"}


def test_pinned_network_takes_the_ipv4_pool_of_a_dual_stack_network() -> None:
    networks = _FakeNetworks([[V6, V4]])
    _, subnet = _engine(networks).create_network("n", {}, pinned=True)
    assert subnet == "172.21.0.0/16"
    assert networks.created[-1]["ipam"]["Config"][0]["Subnet"] == "172.21.0.0/16"
    assert list(networks.live) == ["n"]


def test_pinned_network_retries_when_another_network_takes_its_subnet_meanwhile() -> None:
    # Between removing the probe network and re-creating it pinned, another job's network
    # got the same pool from Docker: take the next pool Docker hands out.
    other = {"Subnet": "172.22.0.0/16", "Gateway": "172.22.0.1"}
    networks = _FakeNetworks([[V4], [other]], overlaps=1)
    _, subnet = _engine(networks).create_network("n", {}, pinned=True)
    assert subnet == "172.22.0.0/16" and list(networks.live) == ["n"]


def test_network_without_an_ipv4_pool_is_a_clear_error_and_left_behind_by_nobody() -> None:
    from emulator.errors import EmulatorError

    networks = _FakeNetworks([[V6]])
    with pytest.raises(EmulatorError, match="IPv4"):
        _engine(networks).create_network("n", {}, pinned=True)
    assert networks.live == {}


def test_fixed_addresses_must_fit_above_the_dynamic_range() -> None:
    from emulator.errors import EmulatorError

    assert host_addresses("10.1.2.0/28", ["algo-1"]) == {"algo-1": "10.1.2.14"}
    with pytest.raises(EmulatorError, match="too small"):
        host_addresses("10.1.2.0/28", [f"algo-{i}" for i in range(1, 9)])


def test_merged_tar_never_puts_an_entry_below_another_hosts_file_or_link(
        tmp_path: Path) -> None:
    # algo-1 wrote a file "a" and a link "ln"; algo-2 directories of the same names. The merged
    # archive must stay extractable (nothing below a file, nothing written through a link).
    one, two = tmp_path / "1", tmp_path / "2"
    one.mkdir()
    (one / "a").write_text("file")
    (one / "ln").symlink_to(".")
    (two / "a").mkdir(parents=True)
    (two / "a" / "b").write_text("x")
    (two / "ln").mkdir()
    (two / "ln" / "evil").write_text("x")
    (two / "empty").mkdir()
    tar_directory([one, two], tmp_path / "m.tar.gz")
    with tarfile.open(tmp_path / "m.tar.gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == ["a", "empty", "ln"]
        assert members["a"].isfile() and members["ln"].issym() and members["empty"].isdir()
        tar.extractall(tmp_path / "out", filter="data")


def test_local_sharded_channel_holds_what_a_replicated_one_holds(tmp_path: Path) -> None:
    # Datasets often link into a cache (Hugging Face snapshots, DVC): FullyReplicated copies
    # the linked files' contents, so the shards together must hold them too.
    blobs, source = tmp_path / "blobs", tmp_path / "src"
    (blobs / "dir").mkdir(parents=True)
    (blobs / "b1").write_text("b1")
    (blobs / "dir" / "d1").write_text("d1")
    source.mkdir()
    (source / "a").write_text("a")
    (source / "linked").symlink_to(blobs / "b1")
    (source / "linkdir").symlink_to(blobs / "dir")
    allowed = HostPaths.of([tmp_path])  # the cache inside the allowed roots: followed
    copy_confined(allowed, str(source), tmp_path / "full", None)
    for i in range(2):
        copy_confined(allowed, str(source), tmp_path / "shards", (i, 2))

    def files(root: Path) -> dict[str, str]:
        return {p.relative_to(root).as_posix(): p.read_text()
                for p in root.rglob("*") if p.is_file()}

    assert files(tmp_path / "full") == {"a": "a", "linked": "b1", "linkdir/d1": "d1"}
    assert files(tmp_path / "shards") == files(tmp_path / "full")


def test_shared_prefix_proof_accepts_a_restored_file_another_host_pruned(
        client: Any, tmp_path: Path) -> None:
    import hashlib

    from emulator.jobs.cluster import verify_shared_prefix

    client.create_bucket(Bucket="proof")
    client.put_object(Bucket="proof", Key="ck/new-1", Body=b"new")
    one, two = tmp_path / "algo-1", tmp_path / "algo-2"
    one.mkdir()
    two.mkdir()
    (one / "new-1").write_bytes(b"new")
    (two / "old-1").write_bytes(b"old")  # restored onto algo-2; algo-1 deleted its own copy
    restored = [CheckpointFile("old-1", 3, hashlib.sha256(b"old").hexdigest())]
    dirs = {"algo-1": one, "algo-2": two}
    assert verify_shared_prefix(client, "s3://proof/ck", dirs, restored, {"old-1"}) == []
    # Not deleted by any host, or changed since the restore: S3 should have it.
    assert verify_shared_prefix(client, "s3://proof/ck", dirs, restored, set()) == [
        "old-1: on algo-2, not in S3"]
    (two / "old-1").write_bytes(b"changed")
    assert verify_shared_prefix(client, "s3://proof/ck", dirs, restored, {"old-1"}) == [
        "old-1: on algo-2, not in S3"]


def test_a_failed_shared_prefix_proof_is_one_flag_that_says_what_differs() -> None:
    from emulator.jobs.resume import analyse

    attempt = Attempt(1, 0.0, mirror_verified=False,
                      mirror_differences=["x: on algo-2, not in S3"])
    views = [Attempt(1, 0.0, host=h, mirror_verified=False) for h in ("algo-1", "algo-2")]
    for view in views:
        analyse(view, None, set())
    merge_hosts(attempt, views)
    differs = [f for f in attempt.flags if "S3 differs" in f]
    assert differs == ["S3 differs from the checkpoint directory after this attempt: "
                       "x: on algo-2, not in S3"]


def test_exhausted_address_pools_are_a_clear_error() -> None:
    import docker.errors

    from emulator.errors import EmulatorError

    class Exhausted(_FakeNetworks):
        def create(self, **kwargs: Any) -> Any:
            raise docker.errors.APIError(
                "could not find an available, non-overlapping IPv4 address pool among the "
                "defaults to assign to the network")

    for pinned in (False, True):
        with pytest.raises(EmulatorError, match="docker network prune"):
            _engine(Exhausted([])).create_network("n", {}, pinned=pinned)


def test_sharding_edge_cases_one_object_and_a_manifest(client: Any, tmp_path: Path) -> None:
    import json

    from emulator.storage.artifacts import download_manifest

    client.create_bucket(Bucket="edge")
    client.put_object(Bucket="edge", Key="one/train.csv", Body=b"x")
    # More hosts than objects (a prefix naming one object): one host has it, the others none.
    counts = [download_prefix(client, "s3://edge/one/train.csv", tmp_path / f"p{i}", (i, 3))
              for i in range(3)]
    assert counts == [1, 0, 0] and (tmp_path / "p0" / "train.csv").read_bytes() == b"x"
    for name in ("a", "b", "c"):
        client.put_object(Bucket="edge", Key=f"m/{name}", Body=name.encode())
    client.put_object(Bucket="edge", Key="manifest", Body=json.dumps(
        [{"prefix": "s3://edge/m/"}, "c", "a", "b"]).encode())
    got = []
    for i in range(2):
        download_manifest(client, "s3://edge/manifest", tmp_path / f"m{i}", (i, 2))
        got.append(sorted(p.name for p in (tmp_path / f"m{i}").iterdir()))
    assert got == [["a", "c"], ["b"]]
