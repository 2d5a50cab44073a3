"""Multi-instance jobs: hosts algo-1..N that resolve each other, sharded channels, one shared
checkpoint prefix, cluster-wide interruptions, merged artifacts, and a failing host."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

# A tag of this run's own: other runs on the same Docker engine remove theirs when they end.
CLUSTER_IMAGE = session_image("smemu-test-cluster")
# Each host checkpoints its own step counter (ckpt-<host>.json, temp file + rename) and resumes
# from it; it reports its peers' addresses and its channel files in the model.
CLUSTER_SCRIPT = textwrap.dedent("""
    import json, os, signal, socket, sys, time
    cfg = json.load(open("/opt/ml/input/config/resourceconfig.json"))
    me, hosts = cfg["current_host"], cfg["hosts"]
    peers = {h: socket.gethostbyname(h) for h in hosts}
    # Every host is in /etc/hosts from the start, not only once its container runs.
    etc_hosts = {name: line.split()[0] for line in open("/etc/hosts")
                 if line.strip() and not line.startswith("#") for name in line.split()[1:]}
    assert all(etc_hosts.get(h) == peers[h] for h in hosts), (etc_hosts, peers)
    assert socket.gethostname() == me, socket.gethostname()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ckdir = "/opt/ml/checkpoints"
    mine = f"{ckdir}/ckpt-{me}.json"
    step = json.load(open(mine))["step"] if os.path.exists(mine) else 0
    print(f"{me}: starting at step {step}, peers {sorted(peers)}", flush=True)

    def files(channel):
        root = f"/opt/ml/input/data/{channel}"
        return sorted(os.path.relpath(os.path.join(d, f), root)
                      for d, _, fs in os.walk(root) for f in fs)

    def save(path, data):
        with open(path + ".tmp", "w") as f:
            json.dump(data, f)
        os.replace(path + ".tmp", path)

    steps = int(os.environ.get("STEPS", "20"))
    while step < steps and not stop:
        time.sleep(0.25)
        step += 1
        save(mine, {"step": step})
        if os.environ.get("PRUNE"):  # keep only its newest step file, as many scripts do
            for old in os.listdir(ckdir):
                if old.startswith(f"step-{me}-"):
                    os.remove(f"{ckdir}/{old}")
            save(f"{ckdir}/step-{me}-{step:04d}.json", {"step": step})
        if os.environ.get("CONFLICT"):
            save(f"{ckdir}/shared.json", {"host": me, "step": step})
        if os.environ.get("FAIL_HOST") == me and step == 3:
            open("/opt/ml/output/failure", "w").write(f"{me} gave up at step {step}")
            sys.exit(3)
    if stop:
        print(f"{me}: SIGTERM at step {step}", flush=True)
        sys.exit(143)
    model = "/opt/ml/model"
    json.dump({"host": me, "step": step, "peers": sorted(peers),
               "shard": files("shard"), "full": files("full")},
              open(f"{model}/{me}.json", "w"))
    open(f"{model}/common.txt", "w").write(me)
    print(f"{me}: done at step {step}", flush=True)
""")


@pytest.fixture(scope="module")
def cluster_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, CLUSTER_IMAGE, CLUSTER_SCRIPT)
    docker_client.images.remove(CLUSTER_IMAGE, force=True)


def _cluster_request(job_name: str, bucket: str, image: str, count: int,
                     env: dict[str, str] | None = None, spot: bool = True) -> dict[str, Any]:
    request = toy_request(job_name, checkpoint_uri=f"s3://{bucket}/ckpt/{job_name}",
                          bucket=bucket, spot=spot)
    request["AlgorithmSpecification"]["TrainingImage"] = image
    request["ResourceConfig"]["InstanceCount"] = count
    request["Environment"] = env or {}
    request["InputDataConfig"] = [
        {"ChannelName": name, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/{name}/",
            "S3DataDistributionType": distribution}}}
        for name, distribution in (("shard", "ShardedByS3Key"), ("full", "FullyReplicated"))
    ]
    return request


def _put_channels(s3: Any, bucket: str) -> tuple[list[str], list[str]]:
    shard = [f"part-{i}.csv" for i in range(7)]
    full = ["vocab.txt", "sub/labels.txt"]
    for name in shard:
        s3.put_object(Bucket=bucket, Key=f"data/shard/{name}", Body=name.encode())
    for name in full:
        s3.put_object(Bucket=bucket, Key=f"data/full/{name}", Body=name.encode())
    return shard, sorted(full)


def test_two_hosts_resume_together_after_an_interruption(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    shard, full = _put_channels(s3, bucket)
    # 10 s of steps: the interruption at 3 s comes mid-training on every host, even when a
    # loaded machine delivers it late (a host done by then would resume with nothing to do).
    request = _cluster_request(job_name, bucket, cluster_image, 2, env={"STEPS": "40"})
    request["Tags"] = [{"Key": "smemu:interrupt", "Value": "after=3s"},
                       {"Key": "smemu:grace-period", "Value": "10s"}]
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ResourceConfig"]["InstanceCount"] == 2

    model = read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    hosts = {h: json.loads(model[f"{h}.json"]) for h in ("algo-1", "algo-2")}
    assert all(r["peers"] == ["algo-1", "algo-2"] and r["step"] == 40 for r in hosts.values())
    # ShardedByS3Key: disjoint shards that together are the whole prefix, in key order.
    assert hosts["algo-1"]["shard"] == sorted(shard)[0::2]
    assert hosts["algo-2"]["shard"] == sorted(shard)[1::2]
    assert hosts["algo-1"]["full"] == hosts["algo-2"]["full"] == full  # FullyReplicated
    assert model["common.txt"] == b"algo-1"  # merged model: algo-1's file wins a clash

    keys = sorted(o["Key"].rsplit("/", 1)[-1] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=f"ckpt/{job_name}/")["Contents"])
    assert keys == ["ckpt-algo-1.json", "ckpt-algo-2.json"]  # one prefix, no host suffix

    report = endpoint.report(job_name)
    first, second = report["Attempts"]
    assert first["Outcome"] == "interrupted" and second["Outcome"] == "completed"
    assert [h["Host"] for h in second["Hosts"]] == ["algo-1", "algo-2"]
    # Every host restored both hosts' checkpoints and read its own.
    for host in second["Hosts"]:
        assert sorted(f["path"] for f in host["CheckpointsRestored"]) == keys
        assert host["Resume"] == "resumed", host
        assert host["RestoredFilesRead"] == [f"ckpt-{host['Host']}.json"]
    assert second["Resume"] == "resumed"
    assert second["OverwriteConflicts"] == [] and first["OverwriteConflicts"] == []
    assert first["MirrorVerified"] is True and second["MirrorVerified"] is True
    assert {u["host"] for u in second["CheckpointsUploaded"]} == {"algo-1", "algo-2"}

    logs = endpoint.client("logs")
    streams = [s["logStreamName"] for s in logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamNamePrefix=f"{job_name}/")["logStreams"]]
    assert sorted(s.rsplit("-", 1)[0] for s in streams) == [
        f"{job_name}/algo-1", f"{job_name}/algo-1", f"{job_name}/algo-2", f"{job_name}/algo-2"]
    # `smemu logs` names the host of each line when there are several.
    shown = subprocess.run([sys.executable, "-m", "emulator", "logs", job_name, "--endpoint-url",
                            endpoint.url], capture_output=True, text=True, timeout=60).stdout
    assert "[algo-1] algo-1: done at step 40" in shown
    assert "[algo-2] algo-2: done at step 40" in shown


def test_hosts_writing_the_same_checkpoint_key_are_flagged(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    _put_channels(s3, bucket)
    request = _cluster_request(job_name, bucket, cluster_image, 2,
                               env={"CONFLICT": "1", "STEPS": "4"}, spot=False)
    sagemaker.create_training_job(**request)
    assert wait_for_job(sagemaker, job_name)["TrainingJobStatus"] == "Completed"
    (attempt,) = endpoint.report(job_name)["Attempts"]
    # The temp file of the write-then-rename may collide too, when it was seen closed.
    conflicts = [c for c in attempt["OverwriteConflicts"] if not c.startswith("shared.json.tmp")]
    assert len(conflicts) == 1
    assert conflicts[0].startswith("shared.json written by algo-1 and algo-2")
    assert any(f.startswith("overwrite conflict: shared.json") for f in attempt["Flags"])


def test_a_failing_host_fails_the_job_and_ends_the_others(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str, docker_client: Any) -> None:
    _put_channels(s3, bucket)
    request = _cluster_request(job_name, bucket, cluster_image, 3,
                               env={"FAIL_HOST": "algo-2", "STEPS": "400"}, spot=False)
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: algo-2 gave up at step 3"
    assert job["TrainingTimeInSeconds"] < 60  # algo-1 and algo-3 did not run their 100 s
    (attempt,) = endpoint.report(job_name)["Attempts"]
    hosts = {h["Host"]: h for h in attempt["Hosts"]}
    assert attempt["ExitCode"] == 3 and hosts["algo-2"]["ExitCode"] == 3
    assert hosts["algo-1"]["SigKilled"] and hosts["algo-3"]["SigKilled"]  # by the fail-fast
    assert all(h["Outcome"] == "failed" and h["EndedAt"] for h in hosts.values())
    assert docker_client.containers.list(all=True, filters={
        "label": f"smemu.job={job_name}"}, ignore_removed=True) == []


def test_hosts_pruning_their_own_old_checkpoints_keep_the_proof_clean(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str) -> None:
    # After a restart every host holds restored copies of the other hosts' step files; a host
    # deleting its own old one leaves the others' untouched copies behind, and S3 rightly
    # lacks it: not a mirror failure.
    _put_channels(s3, bucket)
    request = _cluster_request(job_name, bucket, cluster_image, 2,
                               env={"PRUNE": "1", "STEPS": "14"})
    request["Tags"] = [{"Key": "smemu:interrupt", "Value": "after=2s"},
                       {"Key": "smemu:grace-period", "Value": "5s"}]
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    first, second = endpoint.report(job_name)["Attempts"]
    assert any(f["path"].startswith("step-algo-1-") for f in second["CheckpointsRestored"])
    assert second["Resume"] == "resumed"
    assert first["MirrorVerified"] is True, first["MirrorDifferences"]
    assert second["MirrorVerified"] is True, second["MirrorDifferences"]
    assert second["OverwriteConflicts"] == []
    assert not any("S3 differs" in flag for flag in second["Flags"]), second["Flags"]


def test_a_host_that_cannot_start_fails_the_job_and_removes_the_started_ones(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str, docker_client: Any) -> None:
    # algo-2's container name is taken: algo-1 starts, algo-2 cannot.
    blocker = docker_client.containers.create(
        "smemu-base:latest", ["true"],
        name=f"smemu-{endpoint.server_id}-{job_name}-1-algo-2", labels={"smemu.managed": "true"})
    try:
        _put_channels(s3, bucket)
        sagemaker.create_training_job(**_cluster_request(job_name, bucket, cluster_image, 2,
                                                         env={"STEPS": "400"}, spot=False))
        job = wait_for_job(sagemaker, job_name, timeout=60)
    finally:
        blocker.remove(force=True)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: the training container could not start")
    label = {"label": f"smemu.job={job_name}"}
    assert docker_client.containers.list(all=True, filters=label, ignore_removed=True) == []
    assert docker_client.networks.list(filters=label) == []


def test_a_host_removed_from_outside_fails_the_job(
        endpoint: EndpointProcess, cluster_image: str, sagemaker: Any, s3: Any, bucket: str,
        job_name: str, docker_client: Any) -> None:
    _put_channels(s3, bucket)
    sagemaker.create_training_job(**_cluster_request(job_name, bucket, cluster_image, 2,
                                                     env={"STEPS": "40"}, spot=False))
    name = f"smemu-{endpoint.server_id}-{job_name}-1-algo-2"
    deadline = time.monotonic() + 60
    while not docker_client.containers.list(filters={"name": name}, ignore_removed=True):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1)
    docker_client.containers.get(name).remove(force=True)  # `docker rm -f`, a cleanup
    job = wait_for_job(sagemaker, job_name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    # Killed, then removed: the exit code (137) when smemu saw it, else none at all; never
    # an emulator error.
    assert job["FailureReason"] in (
        "AlgorithmError: Algorithm exited with a non-zero exit code 137",
        "InternalServerError: the training container of algo-2 ended without an exit code "
        "(removed from outside smemu?)"), job["FailureReason"]
    assert docker_client.containers.list(all=True, filters={
        "label": f"smemu.job={job_name}"}, ignore_removed=True) == []
