"""Per-host reclaims (trigger option host=algo-2) on a real two-host cluster: algo-2 gets the
interruption first; algo-1, connected to it over TCP as a distributed framework would be, sees
its peer vanish; then SageMaker stops the job, and the next attempt restarts both hosts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.endpoint import EndpointProcess, job_log, toy_request, wait_for_job

pytestmark = pytest.mark.docker

# algo-2 serves a stream on :7777; algo-1 reads it. Attempt 1 (no marker restored): algo-2
# streams until SIGTERM. Attempt 2: it sends "done" after a second and both exit 0.
# PEER_MODE=crash: algo-1 exits 1 when the stream breaks; keep: it trains on regardless.
PEER = r'''
import json, os, signal, socket, sys, time
host = json.load(open("/opt/ml/input/config/resourceconfig.json"))["current_host"]
ckpt = "/opt/ml/checkpoints"
second = os.path.exists(f"{ckpt}/attempt-1-{host}")
open(f"{ckpt}/attempt-1-{host}", "w").close()
def on_term(*_):
    print(f"{host} got SIGTERM", flush=True)
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
if host == "algo-2":
    server = socket.create_server(("0.0.0.0", 7777))
    conn, _ = server.accept()
    started = time.monotonic()
    while not second or time.monotonic() - started < 1:
        conn.sendall(b"x")
        time.sleep(0.05)
    conn.sendall(b"done")
    conn.close()
    sys.exit(0)
while True:
    try:
        conn = socket.create_connection(("algo-2", 7777), timeout=1)
        break
    except OSError:
        time.sleep(0.1)
conn.settimeout(None)
print("algo-1 connected", flush=True)
got = b""
while True:
    data = conn.recv(1024)
    if not data:
        break
    got += data
if got.endswith(b"done"):
    sys.exit(0)
print("algo-1 lost its peer algo-2", flush=True)
if os.environ["PEER_MODE"] == "crash":
    sys.exit(1)
while True:
    time.sleep(0.1)
'''


@pytest.mark.parametrize("mode", ["crash", "keep"])
def test_algo_2_reclaimed_first(endpoint: EndpointProcess, sagemaker: Any, s3: Any,
                                bucket: str, job_name: str, mode: str) -> None:
    s3.put_object(Bucket=bucket, Key=f"{job_name}/code/peer.py", Body=PEER.encode())
    plan = "log=algo-1.connected/grace=10s/host=algo-2/peers=3s"
    request = toy_request(job_name, checkpoint_uri=f"s3://{bucket}/{job_name}/ckpt/",
                          bucket=bucket, tags=[{"Key": "smemu:interrupt", "Value": plan},
                                               {"Key": "smemu:grace-period", "Value": "5s"}])
    request["ResourceConfig"]["InstanceCount"] = 2
    request["InputDataConfig"] = [{"ChannelName": "code", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{job_name}/code/"}}}]
    request["AlgorithmSpecification"] = {
        "TrainingImage": "smemu-base:latest", "TrainingInputMode": "File",
        "ContainerEntrypoint": ["python3", "/opt/ml/input/data/code/peer.py"]}
    request["Environment"] = {"PEER_MODE": mode}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    report = endpoint.report(job_name)
    first, second = report["Attempts"]
    assert first["Interruption"] == plan and first["ReclaimedHost"] == "algo-2"
    assert first["Outcome"] == "interrupted" and second["Outcome"] == "completed"
    hosts = {h["Host"]: h for h in first["Hosts"]}
    assert hosts["algo-2"]["ExitCode"] == 143 and hosts["algo-2"]["AfterReclaim"] is None
    after = hosts["algo-1"]["AfterReclaim"]
    lines = job_log(endpoint, job_name)
    assert "algo-2 got SIGTERM" in lines and "algo-1 lost its peer algo-2" in lines
    if mode == "crash":  # it saw its peer vanish and ended before the job was stopped
        assert after.startswith("exited 1 by itself") and after.endswith("after algo-2 was gone")
        assert hosts["algo-1"]["ExitCode"] == 1
        assert "algo-1 got SIGTERM" not in lines
    else:  # it ran on, until the job stopped it: SIGTERM, exit 143
        assert after == "ran on until stopped: SIGTERM, exited 143"
        assert lines.index("algo-1 got SIGTERM") > lines.index("algo-1 lost its peer algo-2")
    # The next attempt restarted both hosts.
    assert sorted(h["Host"] for h in second["Hosts"]) == ["algo-1", "algo-2"]
    assert all(h["ExitCode"] == 0 for h in second["Hosts"])
