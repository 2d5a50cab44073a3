"""The README's reliability figures, and the tests that measure them.

Each `Figure` is one row of the README's Reliability table: its numbers (`counts`) and the test
file that produces them. That file counts what it really did (requests sent, 5xx answers seen,
jobs run, manifests compared, escapes refused) in a `Tally`, and its last test,
`test_the_readme_figure_is_what_these_tests_measured`, hands the tally to `measured()`, which
writes it to `.test-artifacts/figures/<key>.json` and fails unless it equals the README's
numbers. The table between the README's `<!-- reliability -->` markers is rendered from
FIGURES (`python -m tests.support.figures` prints it; tests/unit/test_reliability_figures.py
fails when the README and FIGURES differ, or a figure has no producing test). So a figure
cannot drift from what its test measures and asserts on.

A test file is one xdist work unit (tests/support/parallel.py): its tests, and so its tally,
run in one process, in order.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SMEMU_TEST_ARTIFACTS") or ROOT / ".test-artifacts")
FIGURES_DIR = ARTIFACTS / "figures"
FINAL_TEST = "test_the_readme_figure_is_what_these_tests_measured"


@dataclass(frozen=True)
class Figure:
    key: str
    what: str  # the table's first column
    claim: str  # the figure, with {count} placeholders filled from `counts` and `minimums`
    counts: dict[str, int]  # exact: the tally must equal each
    source: str  # the producing test file, from the project's root
    proof: str  # how the test knows nothing was lost / everything was refused
    # An environment variable that changes the test's budget (FUZZ_EXAMPLES): with it set the
    # tally is recorded but not held to the README's numbers.
    budget_env: str | None = None
    # Counts that vary with timing (retries through an outage): the tally must reach each,
    # the README says "at least"; the run's own number is in its record.
    minimums: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        return self.claim.format(**self.counts, **self.minimums)

    def proof_text(self) -> str:
        return self.proof.format(**self.counts, **self.minimums)


FIGURES: tuple[Figure, ...] = (
    Figure("concurrent-jobs", "Jobs run at once",
           "{jobs} spot jobs on one endpoint, each interrupted twice: {interruptions} "
           "interruptions, {attempts} attempts; {models_exact} of {jobs} models exact",
           {"jobs": 8, "interruptions": 16, "attempts": 24, "models_exact": 8,
            "manifests_equal": 24},
           "tests/integration/test_concurrent_jobs.py",
           "after each of the {manifests_equal} attempts smemu compared the checkpoint "
           "directory's manifest (paths, sizes, sha256) with S3's: equal every time "
           "(`MirrorVerified`); each model is its own seed's, resumed exactly"),
    Figure("fuzz-http", "Bad requests, over HTTP",
           "{requests} raw JSON 1.1 requests to a real endpoint's socket, every SageMaker "
           "operation of botocore's model, valid and mutated, and a 20 MiB body: "
           "{server_errors} answered 5xx",
           {"requests": 61, "server_errors": 0}, "tests/e2e/test_fuzz_http.py",
           "each refusal parsed as an AWS JSON error (`__type`, `message`), counted in the "
           "run's record (`refused`); the endpoint answers on after the huge body",
           budget_env="FUZZ_EXAMPLES"),
    Figure("fuzz-protocol", "Bad requests, any protocol",
           "{requests} requests to the whole endpoint app (SageMaker, S3 on both backends, "
           "Logs, IAM, STS, the extension routes): wrong targets, content types, bodies and "
           "signatures: {server_errors} answered 5xx",
           {"requests": 722, "server_errors": 0},
           "tests/unit/test_protocol_fuzz.py",
           "each refusal parsed by botocore's own parser of that protocol into an error code, "
           "counted in the run's record (`refused`)",
           budget_env="FUZZ_EXAMPLES"),
    Figure("fuzz-service", "Bad requests, SageMaker operations",
           "{requests} requests to the SageMaker adapter: every operation, near-valid "
           "mutations, raw bodies (NaN, 1e999, 3000 brackets, lone surrogates): "
           "{server_errors} answered 5xx",
           {"requests": 1154, "server_errors": 0},
           "tests/unit/test_service_fuzz.py",
           "each refusal an AWS JSON error, counted in the run's record (`refused`); an "
           "accepted CreateTrainingJob then described, listed and stopped",
           budget_env="FUZZ_EXAMPLES"),
    Figure("crash-restarts", "Crash-restarts survived",
           "{restarts} endpoints SIGKILLed mid-job and restarted on their state directory "
           "(checkpoints on an external S3 server, and on the embedded disk S3): "
           "{restarts} jobs ended Failed, none left InProgress, no container left",
           {"restarts": 2, "checkpoints_recovered": 2}, "tests/e2e/test_crash_recovery.py",
           "in {checkpoints_recovered} of {restarts}, the checkpoint the container wrote after "
           "the crash, which nobody mirrored, is in S3 after the restart, at a later step "
           "than at the kill"),
    Figure("s3-faults-container", "S3 faults injected, containers' traffic",
           "{requests} S3 requests through the gateway: {error_SlowDown} 503 SlowDown, "
           "{error_InternalError} 500 InternalError (seeded draws), {outage_refusals} refused "
           "in an outage, {delayed_ms} ms of latency and bandwidth delay",
           {"requests": 72, "error_SlowDown": 20, "error_InternalError": 14,
            "outage_refusals": 3, "delayed_ms": 350},
           "tests/e2e/test_container_s3_faults_wire.py",
           "a write refused by a fault never reaches S3 (none listed after 100 % errors); with "
           "boto3's standard retries every object reads back byte for byte, one retry per "
           "injected error; the host's own requests are never faulted"),
    Figure("s3-faults-mirror", "S3 faults injected, smemu's own traffic",
           "{jobs_lossless} jobs through faults on the mirror's checkpoint and artifact "
           "traffic (20 % 503 SlowDown / 500 InternalError; an outage in the middle of a "
           "96 MiB multipart upload; an outage spanning an interruption's flush); injected: "
           "errors (≥ {injected_errors}) and outage refusals (≥ {outage_refusals}), answered "
           "with retries (≥ {retries}); {failed_not_completed} jobs with S3 still down at the "
           "end: Failed, never Completed",
           {"jobs_lossless": 3, "manifests_equal": 3, "failed_not_completed": 2},
           "tests/integration/test_s3_faults.py",
           "in {manifests_equal} of {jobs_lossless}, the S3 prefix hashed file by file "
           "equals the manifest the container wrote of its checkpoint directory (and smemu's "
           "`MirrorVerified`); the failed ones hold no model. How many faults a run injects "
           "depends on its timing: each run's numbers are in its record",
           minimums={"injected_errors": 1, "outage_refusals": 2, "retries": 1}),
    Figure("s3-faults-in-containers", "S3 faults injected, inside training containers",
           "{jobs_faulted} jobs whose containers' own boto3 calls were faulted (30 % errors, "
           "a 20 MiB multipart upload and ranged download among them; an outage): errors "
           "(≥ {injected_errors}) and outage refusals "
           "(≥ {outage_refusals}), answered by boto3's standard and adaptive retries "
           "(≥ {retries}); a clean job beside them and {host_calls_unfaulted} of the host's "
           "calls: never faulted",
           {"jobs_faulted": 2, "clean_jobs_untouched": 1, "host_calls_unfaulted": 60},
           "tests/integration/test_container_s3_faults.py",
           "every retried call got through and read back what it wrote (the multipart file "
           "byte for byte); each injected error "
           "is one boto3 retry or one failure of the client without retries; the clean job "
           "saw no failure and no retry. How many faults a run injects depends on its "
           "timing: each run's numbers are in its record",
           minimums={"injected_errors": 1, "outage_refusals": 2, "retries": 2}),
    Figure("containment", "Escapes refused, from inside a container",
           "{escapes_tried} escapes tried from inside a training container (the Docker socket, "
           "gaining privileges or capabilities, a raw disk device, a connect off the machine): "
           "{refused} refused",
           {"escapes_tried": 4, "refused": 4},
           "tests/integration/test_contained_containers.py",
           "what the container saw, written to its model and read back from S3; the "
           "endpoint's S3 still answered it"),
    Figure("host-paths", "Host-path escapes refused",
           "{refused} host paths outside the `--allow-path` roots named over HTTP (file:// "
           "channels and smemu:code-dir: plain, `..`, a symlink as the path or above it): "
           "{refused} refused; {links_out} symlinks out of the roots inside an allowed "
           "channel or code directory: none followed",
           {"refused": 8, "links_out": 4}, "tests/e2e/test_host_paths.py",
           "each refusal a 400 ValidationException naming `--allow-path`, with no job "
           "created; the container's view of the channel and code directory, written to its "
           "model and read back from S3, holds none of the outside file's bytes"),
    Figure("auth", "Requests refused by `--auth`",
           "{refused} unsigned, wrongly signed, tampered, expired, skewed or edited requests "
           "(boto3 to SageMaker, S3, Logs, CloudWatch, IAM and STS; presigned URLs; the AWS "
           "CLI; the extension routes), each refused; {server_errors} answered 5xx",
           {"refused": 41, "server_errors": 0}, "tests/e2e/test_auth.py",
           "each refusal in its service's own AWS error code; a tampered upload left nothing "
           "stored"),
)
BY_KEY = {figure.key: figure for figure in FIGURES}


@dataclass
class Tally:
    """What one test file counts, across its tests."""

    key: str
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, **counts: int) -> None:
        self.counts.update(counts)

    def check(self, request: pytest.FixtureRequest) -> None:
        """The file's last test: its tally against the README (a partial run is skipped)."""
        options = request.config.option
        if getattr(options, "keyword", "") or getattr(options, "lf", False):
            pytest.skip("a selection of this file's tests ran: its tally is partial")
        if getattr(options, "dist", "no") not in ("no", "loadgroup", "loadfile"):
            pytest.skip(f"--dist {options.dist} spreads this file's tests over processes: "
                        "its tally is partial (make test uses --dist loadgroup)")
        if request.session.testsfailed:
            measured(self.key, check=False, **self.counts)
            pytest.skip(f"{request.session.testsfailed} test(s) of this run failed before this "
                        "one: the tally may be partial (recorded, not checked)")
        measured(self.key, **self.counts)


def measured(key: str, check: bool = True, **counts: int) -> None:
    """Record a producing test's counts, then assert that those the README states are its
    figure's (the others, e.g. how many answers were 4xx, are only recorded)."""
    figure = BY_KEY[key]
    counts = {name: counts.get(name, 0) for name in [*figure.counts, *figure.minimums]} | counts
    claimed = {name: counts[name] for name in figure.counts}
    short = {name: counts[name] for name, least in figure.minimums.items()
             if counts[name] < least}
    held = check and not (figure.budget_env and os.environ.get(figure.budget_env))
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    (FIGURES_DIR / f"{key}.json").write_text(json.dumps({
        "figure": key, "measured": counts, "readme": figure.counts,
        "readme_minimums": figure.minimums,
        "held_to_readme": held, "test": os.environ.get("PYTEST_CURRENT_TEST", ""),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=1))
    if held:
        assert claimed == figure.counts, (
            f"the README's {key} figure says {figure.counts}, {figure.source} measured "
            f"{claimed}: change the test or FIGURES in tests/support/figures.py, then the "
            "README (python -m tests.support.figures)")
        assert not short, (f"the README's {key} figure says at least {figure.minimums}, "
                           f"{figure.source} measured {short}")


def render() -> str:
    """The README's Reliability table."""
    lines = ["| what | figure (measured) | measured by | nothing lost / refused: how it is known |",
             "|---|---|---|---|"]
    for figure in FIGURES:
        lines.append(f"| {figure.what} | {figure.text()} | `{figure.source}` | "
                     f"{figure.proof_text()} |")
    return "\n".join(lines)


def readme_table(readme: str) -> str:
    start, end = "<!-- reliability -->\n", "\n<!-- /reliability -->"
    return readme[readme.index(start) + len(start):readme.index(end)]


if __name__ == "__main__":
    print(render())
    for figure in FIGURES:
        path = FIGURES_DIR / f"{figure.key}.json"
        last = json.loads(path.read_text()) if path.exists() else None
        print(f"{figure.key}: last run "
              f"{last['measured'] if last else 'never recorded'} (README {figure.counts})")
