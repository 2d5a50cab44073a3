"""The S3 a job's own traffic goes through (checkpoints, restores, the model and output
uploads): the endpoint's (the restores and the mirrors' reads straight from its embedded disk S3
when that holds the jobs' buckets), or, with `smemu:s3-faults` covering the mirror, all of it
over HTTP through the job's fault injector (the one its containers' S3 calls meet too, when
the faults cover them). Also how long that traffic waits for S3 (`smemu:s3-wait`), and what the
faults did, for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from emulator import contract
from emulator.checkpoints.retry import Patience
from emulator.faults.s3_clock import OutageClock
from emulator.faults.s3_injector import S3FaultCounts, S3FaultInjector
from emulator.jobs.clock import Clock
from emulator.jobs.limits import JobLimits
from emulator.jobs.model import TrainingJob
from emulator.storage.blobstore import BlobStore
from emulator.storage.fault_hooks import FaultyS3
from emulator.storage.s3 import S3Endpoint


class JobS3:
    def __init__(self, endpoint: S3Endpoint, job: TrainingJob, clock: Clock,
                 store: BlobStore | None = None) -> None:
        """``store``: the way to ``endpoint``'s objects without HTTP, when there is one (the
        endpoint's embedded disk S3); faults on the mirror go over HTTP all the same."""
        settings = job.spec.settings
        self.endpoint = endpoint
        self._store = store
        self.wait = settings.s3_wait
        spec = settings.s3_faults
        self.injector: S3FaultInjector | None = None
        self._faulty: FaultyS3 | None = None
        if spec.injects:  # one injector for both scopes: one RNG, one outage clock, one count
            training = JobLimits(job, clock).training_seconds_so_far
            self.injector = S3FaultInjector(spec, OutageClock(spec, training))
            if spec.covers("mirror"):
                self._faulty = FaultyS3(endpoint, self.injector)
        # The injector the containers' S3 calls meet (emulator.api.container_s3_faults).
        self.container_injector = self.injector if spec.covers("container") else None

    def blob_store(self) -> BlobStore:
        """For the restores and the mirrors: through the faults when they cover them."""
        if self._faulty:
            return self._faulty.blob_store()
        return self._store or self.endpoint.blob_store()

    def client(self) -> Any:
        """For the model and output uploads (botocore retries them, part by part)."""
        return self._faulty.client() if self._faulty else self.endpoint.client()

    def patience(self) -> Patience:
        """Retry for `smemu:s3-wait` where nothing would try again later; retries counted."""
        return Patience(self.wait, self._count_retry)

    @property
    def _count_retry(self) -> Callable[[float], None] | None:
        """The mirror's retries count only when its traffic is faulted."""
        return self.injector.note_retry if self.injector and self._faulty else None

    def counts(self) -> S3FaultCounts | None:
        return self.injector.counts() if self.injector else None

    def close(self) -> None:
        if self._faulty is not None:
            self._faulty.close()


class S3Unavailable(Exception):
    """The job's checkpoints or model did not reach S3 before its wait ran out: it fails."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @classmethod
    def of(cls, what: str, wait: float, error: BaseException | str) -> S3Unavailable:
        return cls(contract.s3_unavailable_reason(what, wait, str(error)))


class _MirroredHost(Protocol):
    @property
    def mirror_errors(self) -> list[str]: ...


def unmirrored(hosts: Iterable[_MirroredHost], s3: JobS3) -> None:
    """Raise S3Unavailable when a host's final flush left checkpoint files out of S3."""
    errors = [e for host in hosts for e in host.mirror_errors]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise S3Unavailable.of(f"{len(errors)} checkpoint file(s) not in S3", s3.wait,
                               errors[0] + more)
