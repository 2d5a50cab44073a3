"""The `smemu` pytest plugin: fixtures over `emulator.testing` for interruption tests.

Registered through the ``pytest11`` entry point, so installing smemu is enough. Nothing here
runs until a test requests a ``smemu_*`` fixture: the first one starts the session's endpoint
(or connects to ``--smemu-endpoint-url``), and emulator.testing is imported only then.

Fixtures (each is an override point: define a fixture of the same name in a conftest.py):

- ``smemu_endpoint`` (session): the `emulator.testing.Endpoint`, ``.url``.
- ``smemu_isolation``: resets the endpoint after each test that used smemu (finished jobs
  are forgotten, their work directories removed), so tests do not see each other's jobs.
- ``smemu_clients``: ``.sagemaker``, ``.s3`` and ``.logs`` boto3 clients of the endpoint.
- ``smemu_run``: ``smemu_run(image, *, interrupt=(), ...) -> JobResult``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from emulator.testing import Endpoint, JobResult

JOBS_KEY = pytest.StashKey[list["JobResult"]]()  # the jobs a test ran, for its failure report


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smemu", "smemu (local SageMaker training emulator)")
    group.addoption(
        "--smemu-endpoint-url", metavar="URL", default=None,
        help="Run the jobs on the smemu endpoint already running at URL (e.g. `smemu up`'s "
             "http://127.0.0.1:4590) instead of starting one for the test run. Its finished "
             "jobs are forgotten after each test.")
    group.addoption(
        "--smemu-report-dir", metavar="DIR", default=None,
        help="Keep the jobs of failed tests in DIR/<test>/: <job>.json (DescribeTrainingJob "
             "and the emulator's report) and <job>.log (the containers' output).")
    group.addoption(
        "--smemu-allow-path", metavar="DIR", action="append", default=[],
        help="Also let the started endpoint's jobs name host paths in DIR (file:// channels, "
             "smemu:code-dir), as `smemu serve --allow-path` (repeatable); pytest's "
             "temporary root is always allowed.")
    group.addoption(
        "--smemu-grace-period", metavar="SECONDS", type=float, default=None,
        help="The started endpoint's default SIGTERM -> SIGKILL window (smemu's default: "
             "120).")
    group.addoption(
        "--smemu-s3-faults", metavar="SPEC", default=None,
        help="S3 faults for every smemu_run job that sets none itself (a SPEC as `smemu run "
             "--s3-faults` takes, e.g. 'errors=20% seed=7'): the suite's jobs must pass with "
             "S3 struggling.")
    group.addoption(
        "--smemu-auth", metavar="ACCESS_KEY:SECRET", default=None,
        help="The started endpoint checks SigV4 signatures against these keys (`smemu serve "
             "--auth`), and the fixtures' clients sign with them (with --smemu-endpoint-url: "
             "the keys that endpoint checks). Default: $SMEMU_AUTH / $SMEMU_AUTH_FILE.")


@pytest.fixture(scope="session")
def smemu_endpoint(pytestconfig: pytest.Config,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The session's smemu endpoint: started on a free port as a child process (stopped, with
    every job and container it made, at the end), or the one at ``--smemu-endpoint-url``.
    The endpoint it starts lets requests name host paths (file:// channels, smemu:code-dir)
    inside pytest's temporary root (so every ``tmp_path`` works) and the
    ``--smemu-allow-path`` directories, nothing else.
    Override it to start the endpoint your way (e.g. ``Endpoint(s3_endpoint_url=...)``)."""
    from emulator.testing import Endpoint

    url = pytestconfig.getoption("smemu_endpoint_url")
    auth = pytestconfig.getoption("smemu_auth")
    if url:
        yield Endpoint.connect(url, auth=auth)
        return
    with Endpoint(grace_period=pytestconfig.getoption("smemu_grace_period"),
                  auth=auth,
                  allow_paths=[tmp_path_factory.getbasetemp(),
                               *pytestconfig.getoption("smemu_allow_path")]) as endpoint:
        yield endpoint


@pytest.fixture()
def smemu_isolation(smemu_endpoint: Endpoint) -> Iterator[Endpoint]:
    """After the test, forget the endpoint's finished jobs (POST /_smemu/reset): cheap, and
    running jobs go on. Override it with a plain ``return smemu_endpoint`` to keep them."""
    yield smemu_endpoint
    smemu_endpoint.reset()


@dataclass(frozen=True)
class SmemuClients:
    """boto3 clients of the endpoint."""

    sagemaker: Any
    s3: Any  # the S3 where the endpoint keeps checkpoints and artifacts
    logs: Any


@pytest.fixture()
def smemu_clients(smemu_isolation: Endpoint) -> SmemuClients:
    """``.sagemaker``, ``.s3`` and ``.logs`` boto3 clients pointed at the endpoint."""
    return SmemuClients(sagemaker=smemu_isolation.client("sagemaker"),
                        s3=smemu_isolation.s3_client(), logs=smemu_isolation.client("logs"))


SmemuRun = Callable[..., "JobResult"]


@pytest.fixture()
def smemu_run(smemu_isolation: Endpoint, request: pytest.FixtureRequest) -> SmemuRun:
    """Run a training job on the endpoint and wait for its end:

    ``smemu_run(image, *, interrupt=(), hyperparameters=None, instance_count=1, spot=True,
    max_wait=900, grace_period=None, checkpoint_s3_uri=None, s3_faults=None, s3_wait=None,
    **request_overrides)`` returns an `emulator.testing.JobResult`. Without
    ``checkpoint_s3_uri`` the job checkpoints to a prefix of its own. ``s3_faults`` is a SPEC
    as `smemu run --s3-faults` takes it ("errors=20% seed=7"); without it, the
    ``--smemu-s3-faults`` option's, if given. ``request_overrides`` are CreateTrainingJob
    members, or `run_job`'s ``timeout``, ``name`` and ``compare_uninterrupted``.
    """
    from emulator.testing import run_job

    jobs = request.node.stash.setdefault(JOBS_KEY, [])
    default_faults = request.config.getoption("smemu_s3_faults")

    def run(image: str, *, interrupt: str | Iterable[str] = (),
            hyperparameters: Mapping[str, object] | None = None, instance_count: int = 1,
            spot: bool = True, max_wait: int = 900, grace_period: float | None = None,
            checkpoint_s3_uri: str | None = None, s3_faults: str | None = None,
            s3_wait: float | None = None, **request_overrides: Any) -> JobResult:
        result = run_job(smemu_isolation, image, interrupt=interrupt,
                         hyperparameters=hyperparameters, instance_count=instance_count,
                         spot=spot, max_wait=max_wait, grace_period=grace_period,
                         checkpoint_s3_uri=checkpoint_s3_uri,
                         s3_faults=s3_faults or default_faults, s3_wait=s3_wait,
                         **request_overrides)
        jobs.append(result)
        if result.uninterrupted is not None:
            jobs.append(result.uninterrupted)
        return result

    return run


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[
        None, pytest.TestReport, pytest.TestReport]:
    """A failed test that ran jobs gets a "smemu jobs" section: each job's attempts, and where
    its report was kept (--smemu-report-dir)."""
    report = yield
    jobs = item.stash.get(JOBS_KEY, [])
    if report.when == "call" and report.failed and jobs:
        report_dir = item.config.getoption("smemu_report_dir")
        kept = keep_reports(jobs, Path(report_dir) / _safe(item.nodeid)) if report_dir else None
        report.sections.append(("smemu jobs", summarize(jobs, kept)))
    return report


def summarize(jobs: list[JobResult], kept: Path | None) -> str:
    lines = []
    for job in jobs:
        reason = f": {job.failure_reason}" if job.failure_reason else ""
        lines.append(f"{job.name}: {job.status}{reason}")
        lines += [f"  attempt {a.number}: {a.outcome} ({a.resume})"
                  + "".join(f"; {flag}" for flag in a.flags) for a in job.attempts]
    if kept is not None:
        lines.append(f"job reports kept in {kept}")
    return "\n".join(lines)


def keep_reports(jobs: list[JobResult], directory: Path) -> Path:
    """<job>.json (DescribeTrainingJob and the emulator's report) and <job>.log per job."""
    directory.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        doc = {"DescribeTrainingJob": job.describe, "SmemuReport": job.report}
        (directory / f"{job.name}.json").write_text(
            json.dumps(doc, indent=2, default=str) + "\n")
        try:
            logs = job.logs()
        except Exception as err:  # the report matters more than its logs
            logs = f"(the logs could not be read: {err})"
        (directory / f"{job.name}.log").write_text(logs + "\n")
    return directory


def _safe(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[:150]
