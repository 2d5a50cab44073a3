"""Crash recovery: the jobs an earlier endpoint process left unfinished, settled at start.

An endpoint that died (SIGKILL, OOM, power) leaves its jobs InProgress in the job history, and
their containers, S3 gateways and networks running under its server id. For each such job the
new endpoint removes what is left of it in Docker (by the `smemu.server` and `smemu.job`
labels), uploads what its checkpoint directories on disk still hold to its CheckpointConfig
S3 URI (the container may have written checkpoints nobody mirrored after the crash), and marks
it Failed with an `InternalServerError: ...` FailureReason, as SageMaker fails a job its own
platform lost. It is not resumed: what the job did while no endpoint watched it (its output,
its checkpoint writes, its interruption plan) was not observed, and a resumed record would
claim a run that did not happen. A new job with the same CheckpointConfig.S3Uri resumes from
the uploaded checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.checkpoints import default_transfer_config, join_key, parse_s3_uri
from emulator.checkpoints.localfs import walk_regular_files
from emulator.checkpoints.sagemaker_names import is_ignored
from emulator.contract import TERMINAL_STATUSES
from emulator.jobs.clock import Clock, SystemClock
from emulator.jobs.lifecycle import JobLifecycle
from emulator.jobs.model import CheckpointFile, TrainingJob
from emulator.jobs.sqlite_store import StoredJob
from emulator.runtime import labels as L
from emulator.runtime.engine import DockerEngine
from emulator.runtime.owners import OWNER_FILE
from emulator.storage.s3 import S3Endpoint, bucket_exists

log = logging.getLogger(__name__)


@dataclass
class Recovered:
    """What recovery did for one job."""

    name: str
    removed: dict[str, list[str]] = field(default_factory=dict)
    uploaded: list[str] = field(default_factory=list)
    kept_on_disk: Path | None = None  # the upload failed: the files stay here
    failure_reason: str = ""


@dataclass
class CrashRecovery:
    engine: DockerEngine
    s3: S3Endpoint
    work_root: Path  # <state dir>/work: one directory per endpoint process (server id)
    create_buckets: bool  # the embedded S3 lost its buckets with the process
    versioning: bool = False  # switch versioning on for a bucket it creates
    helper_image: str = "smemu-base:latest"  # removes root-owned files (engine.remove_tree)
    clock: Clock = field(default_factory=SystemClock)

    def unfinished(self, stored: list[StoredJob]) -> list[StoredJob]:
        return [s for s in stored if s.job.status not in TERMINAL_STATUSES]

    def remove_leftovers(self, stored: list[StoredJob], current_server: str) -> None:
        """Whatever the earlier processes of this history left in Docker (a helper container,
        a job's network whose removal the crash cut short). Their server ids are theirs
        alone: the history's lock says none of them is alive."""
        for server in sorted({s.server_id for s in stored} - {current_server}):
            removed = self.engine.cleanup({L.SERVER: server})
            if removed["containers"] or removed["networks"]:
                log.warning("removed what endpoint %s left behind: %s", server, removed)

    def recover(self, stored: StoredJob, save: Callable[[TrainingJob], None]) -> Recovered:
        """Settle one job an earlier process left unfinished; `save` keeps its new state."""
        job, server = stored.job, stored.server_id
        result = Recovered(job.name)
        result.removed = self.engine.cleanup({L.SERVER: server, L.JOB: job.name})
        job_dir = self.work_root / server / job.name
        try:
            result.uploaded = self._upload_checkpoints(job, job_dir)
        except Exception as err:  # the files stay on disk, and the reason says where
            log.exception("job %s: checkpoints left on disk could not be uploaded", job.name)
            result.kept_on_disk = job_dir
            upload_note = (f" The checkpoints left on disk could not be uploaded "
                           f"({type(err).__name__}: {err}); they are kept in {job_dir}.")
        else:
            upload_note = (f" {len(result.uploaded)} checkpoint file(s) left on disk were "
                           f"uploaded to {job.spec.checkpoint_uri}; start a job with the same "
                           "CheckpointConfig.S3Uri to resume from them."
                           if job.spec.checkpoint_uri else "")
            self.engine.remove_tree(job_dir, self.helper_image)
            _remove_if_empty(job_dir.parent)
        attempt = job.current_attempt
        where = f"{job.secondary_status.value}" + (f", attempt {attempt.number}" if attempt else "")
        result.failure_reason = (
            f"InternalServerError: The smemu endpoint running this job (server {server}) "
            f"stopped unexpectedly while the job was {where}; the job's containers and "
            f"network were removed when the next endpoint started.{upload_note}")
        JobLifecycle(job, self.clock, on_change=save).failed(result.failure_reason)
        log.warning("job %s recovered: %s", job.name, result.failure_reason)
        return result

    def _upload_checkpoints(self, job: TrainingJob, job_dir: Path) -> list[str]:
        uri = job.spec.checkpoint_uri
        attempt = job.current_attempt
        if not uri or attempt is None:
            return []
        attempt_dir = job_dir / f"attempt-{attempt.number}"
        # Every host writes to the one prefix; algo-1 last, so its files win, as its
        # mirror's would in the usual case of one host writing the checkpoints.
        hosts = sorted((p for p in attempt_dir.glob("*/checkpoints") if p.is_dir()),
                       key=lambda p: p.parent.name, reverse=True)
        if not hosts:
            return []
        location = parse_s3_uri(uri)
        client = self.s3.client()
        if self.create_buckets and not bucket_exists(client, location.bucket):
            client.create_bucket(Bucket=location.bucket)
            if self.versioning:
                client.put_bucket_versioning(Bucket=location.bucket,
                                             VersioningConfiguration={"Status": "Enabled"})
        store = self.s3.blob_store()
        transfers = store.transfers(default_transfer_config())
        uploaded: dict[str, CheckpointFile] = {}
        try:
            for checkpoints in hosts:
                for rel, sig in sorted(walk_regular_files(checkpoints).files.items()):
                    if is_ignored(rel):
                        continue
                    key = join_key(location.prefix, rel)
                    # True: the file shrank while it was read (nothing writes to it now
                    # that its container is gone, but the upload is then not the file).
                    if transfers.upload_file(str(checkpoints / rel), location.bucket, key):
                        raise OSError(f"{rel} changed while it was uploaded")
                    uploaded[rel] = CheckpointFile(rel, sig.size, at=self.clock.now(),
                                                   host=checkpoints.parent.name
                                                   if len(hosts) > 1 else None)
        finally:
            transfers.close()
        attempt.uploaded.extend(uploaded.values())
        return sorted(uploaded)


def _remove_if_empty(server_dir: Path) -> None:
    """The dead endpoint's work directory, once no job of it is left in there."""
    with contextlib.suppress(OSError):  # not empty: another job's files are in it
        if [p.name for p in server_dir.iterdir()] == [OWNER_FILE]:
            (server_dir / OWNER_FILE).unlink()
        server_dir.rmdir()
