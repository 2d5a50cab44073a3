"""Pure pieces of multi-instance jobs: shards, fixed addresses, merged verdicts, merged tars."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

from emulator.jobs.channels import channel_shard, copy_local
from emulator.jobs.cluster import host_names
from emulator.jobs.model import Attempt, CheckpointFile
from emulator.jobs.resume import RESUMED, SCRATCH, merge_hosts, overwrite_conflicts
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


def test_only_sharded_channels_on_several_hosts_are_split() -> None:
    assert channel_shard({"S3DataDistributionType": "ShardedByS3Key"}, 1, 2) == (1, 2)
    assert channel_shard({"S3DataDistributionType": "ShardedByS3Key"}, 0, 1) is None
    assert channel_shard({"S3DataDistributionType": "FullyReplicated"}, 1, 2) is None
    assert channel_shard({}, 1, 2) is None


def test_local_channel_shards(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for name in ("a", "b", "sub/c", "sub/d"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    copy_local(source, tmp_path / "h2", (1, 2))
    found = sorted(p.relative_to(tmp_path / "h2").as_posix()
                   for p in (tmp_path / "h2").rglob("*") if p.is_file())
    assert found == ["b", "sub/d"]


def test_host_names_and_fixed_addresses_outside_the_dynamic_range() -> None:
    hosts = host_names({"ResourceConfig": {"InstanceCount": 3}})
    assert hosts == ["algo-1", "algo-2", "algo-3"]
    assert host_names({}) == ["algo-1"]
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
