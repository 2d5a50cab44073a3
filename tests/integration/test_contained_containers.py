"""A training container proves from inside that it is contained: no Docker socket, no way to
gain privileges, not privileged, no route off the machine; the endpoint's S3 still works."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import figures
from tests.support.endpoint import read_model_tar, toy_request, wait_for_job
from tests.support.images import build_script_image, session_image

pytestmark = pytest.mark.docker

ESCAPE_IMAGE = session_image("smemu-test-escape")
TALLY = figures.Tally("containment")  # the README's Reliability figure

ESCAPE = textwrap.dedent("""
    import json, os, socket, urllib.request
    seen = {"sockets": [p for p in ("/var/run/docker.sock", "/run/docker.sock")
                        if os.path.exists(p)]}
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    seen["no_new_privs"] = status["NoNewPrivs"].strip()
    seen["cap_eff"] = status["CapEff"].strip()
    try:  # mknod needs CAP_MKNOD and a privileged device cgroup: a privileged container has both
        os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0))
        open("/tmp/sda", "rb").read(1)
        seen["raw_disk"] = True
    except OSError:
        seen["raw_disk"] = False
    try:  # TEST-NET-3: off the machine
        socket.create_connection(("203.0.113.1", 80), timeout=3).close()
        seen["off_machine"] = "connected"
    except OSError as err:
        seen["off_machine"] = repr(err)
    url = os.environ["AWS_ENDPOINT_URL_S3"] + "/" + os.environ["PROBE_BUCKET"] + "/inside.txt"
    request = urllib.request.Request(url, data=b"contained", method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
    try:
        seen["put_status"] = urllib.request.urlopen(request, timeout=30).status
    except OSError as err:
        seen["put_status"] = repr(err)
    open("/opt/ml/model/seen.json", "w").write(json.dumps(seen))
""")


@pytest.fixture(scope="module")
def escape_image(docker_client: Any) -> Iterator[str]:
    yield build_script_image(docker_client, ESCAPE_IMAGE, ESCAPE)
    docker_client.images.remove(ESCAPE_IMAGE, force=True)


def test_container_cannot_reach_docker_escalate_or_leave_the_machine(
        escape_image: str, sagemaker: Any, s3: Any, bucket: str, job_name: str) -> None:
    request = toy_request(job_name, checkpoint_uri=None, bucket=bucket, spot=False)
    request["AlgorithmSpecification"]["TrainingImage"] = escape_image
    request["HyperParameters"] = {}
    request["Environment"] = {"PROBE_BUCKET": bucket}
    sagemaker.create_training_job(**request)
    job = wait_for_job(sagemaker, job_name, timeout=180)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = json.loads(read_model_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    held = [seen["sockets"] == [], seen["no_new_privs"] == "1" and
            int(seen["cap_eff"], 16) < (1 << 40), seen["raw_disk"] is False,
            seen["off_machine"] != "connected"]
    TALLY.add(escapes_tried=len(held), refused=sum(held))
    assert seen["sockets"] == []
    assert seen["no_new_privs"] == "1"
    assert int(seen["cap_eff"], 16) != (1 << 41) - 1 and int(seen["cap_eff"], 16) < (1 << 40)
    assert seen["raw_disk"] is False
    assert seen["off_machine"] != "connected"
    assert seen["put_status"] == 200  # the gateway still carries the endpoint's S3
    assert s3.get_object(Bucket=bucket, Key="inside.txt")["Body"].read() == b"contained"


def test_the_readme_figure_is_what_these_tests_measured(request: pytest.FixtureRequest) -> None:
    TALLY.check(request)
