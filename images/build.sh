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
die() { printf '[smemu build] ERROR: %s\n' "$*" >&2; exit 1; }

force=no
for arg in "$@"; do
    case "$arg" in
        --force) force=yes ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

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
    if ! DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}" docker build --network none \
        "${build_args[@]}" -t "$tag" "$dir" >"$out" 2>&1; then
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
