#!/usr/bin/env bash
# CI recipe, any CI system: build your training image, then run your interruption tests
# (pytest with smemu's plugin) against it as an integration stage. Needs Docker, Python and
# `pip install smemu pytest`. Copy it into your repository, e.g. as ci/interruption-tests.sh.
#
#   TRAINING_IMAGE=my-trainer:ci bash ci/interruption-tests.sh [more pytest arguments]
#
# Environment (all optional):
#   TRAINING_IMAGE      the tag to build and test                  (my-trainer:ci)
#   BUILD_CONTEXT       the directory holding its Dockerfile       (.)
#   DOCKER_BUILD_ARGS   more `docker build` arguments, split on spaces ("")
#   SKIP_BUILD=1        test an image that is built already
#   INTERRUPTION_TESTS  the test files or directories              (tests/interruption)
#   SMEMU_REPORT_DIR    where the job reports of failed tests go   (smemu-reports)
#   SMEMU_ENDPOINT_URL  reuse a running smemu endpoint instead of starting one per run
#   PYTHON              the Python that has smemu and pytest        (python3)
#
# Exit code: pytest's (0 = every test passed). The tests read TRAINING_IMAGE to know what to run.
set -euo pipefail

image="${TRAINING_IMAGE:-my-trainer:ci}"
context="${BUILD_CONTEXT:-.}"
tests="${INTERRUPTION_TESTS:-tests/interruption}"
reports="${SMEMU_REPORT_DIR:-smemu-reports}"
python="${PYTHON:-python3}"

say() { printf '[interruption tests] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 2; }

docker info >/dev/null 2>&1 || die "no Docker engine answers (smemu runs the training containers on it)"
"$python" -c "import emulator.pytest_plugin, pytest" 2>/dev/null \
    || die "$python lacks smemu or pytest: pip install smemu pytest"

if [ "${SKIP_BUILD:-}" != 1 ]; then
    say "building $image from $context"
    # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is a list of arguments on purpose
    docker build ${DOCKER_BUILD_ARGS:-} -t "$image" "$context"
fi

args=(--smemu-report-dir "$reports")
if [ -n "${SMEMU_ENDPOINT_URL:-}" ]; then
    args+=(--smemu-endpoint-url "$SMEMU_ENDPOINT_URL")
fi
say "running $tests against $image (reports of failed tests: $reports/)"
export TRAINING_IMAGE="$image"
status=0
"$python" -m pytest "$tests" "${args[@]}" "$@" || status=$?
if [ -d "$reports" ]; then
    say "job reports kept: $(find "$reports" -type f | wc -l) file(s) in $reports/"
fi
exit "$status"
