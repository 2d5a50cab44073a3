#!/usr/bin/env bash
# Build every smemu image locally, without any registry or network access.
#
#   images/build.sh [--force]
#
# 1. images/base/build.sh produces smemu-base:latest (pulled python:3.11-slim,
#    or a Debian bookworm base made with mmdebstrap when no registry answers).
# 2. Every images/<dir>/ holding a Dockerfile is built FROM it as
#    smemu-<dir>:latest (--build-arg BASE_IMAGE=smemu-base:latest); one built FROM
#    another smemu image (a `# smemu-build-after: NAME` line) comes after the others.
#
# An image dir with an executable prepare.sh has it run first (it generates part
# of the build context: images/emulator builds smemu's own wheel there).
#
# Builds are quiet unless they fail. They must not use the network: an image
# dir with a requirements.txt gets its wheels prepared on the host first
# (scripts/prepare-wheels.sh: DIR/wheels/, reused when up to date), and its
# Dockerfile installs them with `pip install --no-index --find-links`.
#
# --force rebuilds the base image too and builds the others with --no-cache.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE_TAG="${SMEMU_BASE_TAG:-smemu-base:latest}"

log() { printf '[smemu build] %s\n' "$*"; }

# The sha256 of an image directory's files (wheels/, dist/ and caches aside), labelled on the image
# as smemu.context: `smemu doctor` computes it again to tell an image built from older files.
context_sha() {
    (cd "$1" && find . -type f ! -path './wheels/*' ! -path './dist/*' ! -path '*/__pycache__/*' \
        -print0 \
        | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
die() { printf '[smemu build] ERROR: %s\n' "$*" >&2; exit 1; }

force=no
for arg in "$@"; do
    case "$arg" in
        --force) force=yes ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

# docker build ARGS with its output in OUT; on a terminal, one line kept up to date with the
# build's step ("Step 3/7") and the time so far.
build_showing_steps() {
    local tag="$1" start="$2" out="$3" pid status=0 step
    shift 3
    if [ ! -t 1 ]; then
        DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build "$@" >"$out" 2>&1 || status=$?
        return "$status"
    fi
    DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build "$@" >"$out" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        step=$(grep -o '^Step [0-9]*/[0-9]*' "$out" 2>/dev/null | tail -n 1 || true)
        printf '\r\033[K[smemu build] building %s: %s, %d s' "$tag" "${step:-starting}" \
            "$(( $(date +%s) - start ))"
        sleep 0.5
    done
    wait "$pid" || status=$?
    printf '\r\033[K'
    return "$status"
}

total_start=$(date +%s)

base_args=()
[ "$force" = yes ] && base_args+=(--force)
"$here/base/build.sh" "${base_args[@]+"${base_args[@]}"}"

build_args=(--build-arg "BASE_IMAGE=$BASE_TAG")
[ "$force" = yes ] && build_args+=(--no-cache)

# An image built FROM another smemu image says so in a `# smemu-build-after: NAME` line: it is
# built after the others (one level of such dependencies is enough today).
dockerfiles=()
later=()
for dockerfile in "$here"/*/Dockerfile; do
    [ -e "$dockerfile" ] || continue
    if grep -q '^# smemu-build-after:' "$dockerfile"; then
        later+=("$dockerfile")
    else
        dockerfiles+=("$dockerfile")
    fi
done

built=0
for dockerfile in "${dockerfiles[@]+"${dockerfiles[@]}"}" "${later[@]+"${later[@]}"}"; do
    dir="$(dirname "$dockerfile")"
    name="$(basename "$dir")"
    [ "$name" = base ] && continue
    tag="smemu-${name}:latest"
    if [ -x "$dir/prepare.sh" ]; then  # generates part of the build context (images/emulator)
        "$dir/prepare.sh" || die "preparing images/$name failed (output above)"
    fi
    if [ -f "$dir/requirements.txt" ]; then
        "$here/../scripts/prepare-wheels.sh" "$dir" \
            || die "preparing the wheels of images/$name failed (output above)"
    fi
    start=$(date +%s)
    log "building $tag from images/$name"
    out=$(mktemp "${TMPDIR:-/tmp}/smemu-build-${name}.XXXXXX")
    # --network none: a build step that reaches for the network fails here
    # rather than silently depending on it.
    if ! build_showing_steps "$tag" "$start" "$out" --network none "${build_args[@]}" \
        --label "smemu.context=$(context_sha "$dir")" -t "$tag" "$dir"; then
        cat "$out" >&2
        rm -f "$out"
        die "docker build of $tag failed (output above)"
    fi
    rm -f "$out"
    size=$(docker image inspect -f '{{.Size}}' "$tag")
    log "built $tag in $(( $(date +%s) - start )) s ($(( size / 1000000 )) MB)"
    built=$((built + 1))
done

# Rebuilding leaves the previous smemu images dangling; remove only those.
docker image prune -f --filter label=smemu.image >/dev/null 2>&1 || true

log "done: base + $built image(s) in $(( $(date +%s) - total_start )) s"
