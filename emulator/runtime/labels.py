"""Labels on everything the emulator creates, so cleanup can always find it."""

from __future__ import annotations

NAMESPACE = "smemu"
MANAGED = "smemu.managed"
JOB = "smemu.job"
ATTEMPT = "smemu.attempt"
HOST = "smemu.host"
SERVER = "smemu.server"  # the id of the endpoint process that created it


def job_labels(server_id: str, job_name: str) -> dict[str, str]:
    return {MANAGED: "true", SERVER: server_id, JOB: job_name}
