#!/usr/bin/env bash
# Produce the local base image smemu-base:latest (python3 on PATH, /bin/sh, tar).
#
#   images/base/build.sh [--force] [--no-pull]
#
# 1. If smemu-base:latest exists, do nothing (unless --force).
# 2. Try `docker pull python:3.11-slim` (60 s timeout) and tag it.
# 3. Otherwise (no registry reachable) build a minimal Debian bookworm root
#    filesystem with mmdebstrap and `docker import` it. mmdebstrap is installed
#    with apt-get when missing and we are root.
#
# Environment:
#   SMEMU_BASE_TAG        image tag to produce (default smemu-base:latest)
#   SMEMU_PULL_IMAGE      image to try pulling (default python:3.11-slim)
#   SMEMU_DEBIAN_SUITE    suite for mmdebstrap (default bookworm)
#   SMEMU_DEBIAN_MIRROR   mirror URL for mmdebstrap (default: mmdebstrap's own
#                         choice, i.e. deb.debian.org with -updates/-security)
set -euo pipefail

TAG="${SMEMU_BASE_TAG:-smemu-base:latest}"
PULL_IMAGE="${SMEMU_PULL_IMAGE:-python:3.11-slim}"
SUITE="${SMEMU_DEBIAN_SUITE:-bookworm}"
MIRROR="${SMEMU_DEBIAN_MIRROR:-}"

log() { printf '[smemu build] %s\n' "$*"; }
die() { printf '[smemu build] ERROR: %s\n' "$*" >&2; exit 1; }

force=no
pull=yes
for arg in "$@"; do
    case "$arg" in
        --force) force=yes ;;
        --no-pull) pull=no ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

command -v docker >/dev/null 2>&1 || die "no docker CLI (run scripts/ensure-docker.sh)"
docker info >/dev/null 2>&1 || die "docker daemon does not answer (run scripts/ensure-docker.sh)"

if [ "$force" = no ] && docker image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG already exists (use --force to rebuild)"
    exit 0
fi

start=$(date +%s)

# Check that an image has what the toy trainer and the emulator rely on.
verify_image() {
    docker run --rm --network none --entrypoint /bin/sh "$1" -c \
        'command -v python3 >/dev/null && command -v tar >/dev/null && python3 -c "import json, ssl, signal"' \
        >/dev/null 2>&1
}

# --- 1. a pulled image -------------------------------------------------------
if [ "$pull" = yes ]; then
    log "trying: docker pull $PULL_IMAGE (timeout 60 s)"
    if timeout 60 docker pull -q "$PULL_IMAGE" >/dev/null 2>&1; then
        docker tag "$PULL_IMAGE" "$TAG"
        verify_image "$TAG" || die "$PULL_IMAGE lacks python3/tar"
        log "tagged $PULL_IMAGE as $TAG in $(( $(date +%s) - start )) s"
        exit 0
    fi
    log "pull failed (no registry reachable?); building a local base from Debian packages"
fi

# --- 2. mmdebstrap + docker import -------------------------------------------
apt_install() {
    [ "$EUID" -eq 0 ] || die "need root to apt-get install $* (or install it yourself)"
    command -v apt-get >/dev/null 2>&1 || die "$* missing and no apt-get to install it"
    log "installing $* via apt-get"
    export DEBIAN_FRONTEND=noninteractive
    local apt_log
    apt_log=$(mktemp "${TMPDIR:-/tmp}/smemu-apt.XXXXXX")
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"; } \
        >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        rm -f "$apt_log"
        die "apt-get install $* failed (output above)"
    fi
    rm -f "$apt_log"
}

if ! command -v mmdebstrap >/dev/null 2>&1; then
    # debian-archive-keyring: needed to verify Debian's archive on Ubuntu hosts.
    pkgs=(mmdebstrap)
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || pkgs+=(debian-archive-keyring)
    apt_install "${pkgs[@]}"
fi

# SC2054: the commas are mmdebstrap's list syntax; SC2016: "$1" is expanded by
# mmdebstrap's hook shell, not here.
# shellcheck disable=SC2054,SC2016
mm_args=(
    --variant=minbase
    --include=python3,ca-certificates
    --aptopt='APT::Install-Recommends "false"'
    # no docs/man pages/translations in the image
    --dpkgopt='path-exclude=/usr/share/doc/*'
    --dpkgopt='path-exclude=/usr/share/man/*'
    --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*'
    --dpkgopt='path-include=/usr/share/doc/*/copyright'
    # drop apt's package lists and caches from the final tarball
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb "$1"/var/log/*.log "$1"/var/log/apt/*'
)
# bookworm's init-system-helpers depends on usrmerge|usr-is-merged; without this
# hook apt picks usrmerge, which drags in full perl (~45 MB). The hook sets up
# merged /usr itself and satisfies usr-is-merged instead.
merged_usr_hooks=/usr/share/mmdebstrap/hooks/merged-usr
if [ -d "$merged_usr_hooks" ]; then
    mm_args+=(--hook-dir="$merged_usr_hooks")
fi

tmp_tag="${TAG%:*}:importing-$$"
errlog=$(mktemp "${TMPDIR:-/tmp}/smemu-mmdebstrap.XXXXXX")
cleanup() { rm -f "$errlog"; docker rmi -f "$tmp_tag" >/dev/null 2>&1 || true; }
trap cleanup EXIT

log "running mmdebstrap ($SUITE, minbase + python3) | docker import (about 20-60 s)"
# Import under a temporary tag first: if mmdebstrap fails half-way, docker
# import may still accept the truncated stream, and we must not tag that.
if ! mmdebstrap "${mm_args[@]}" "$SUITE" - ${MIRROR:+"$MIRROR"} 2>"$errlog" \
    | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'LABEL smemu.image=base' \
        --change 'CMD ["/bin/sh"]' \
        - "$tmp_tag" >/dev/null 2>>"$errlog"; then
    tail -n 30 "$errlog" >&2
    die "mmdebstrap | docker import failed (see output above)"
fi

verify_image "$tmp_tag" || die "imported image lacks python3/tar (unexpected)"
docker tag "$tmp_tag" "$TAG"
size=$(docker image inspect -f '{{.Size}}' "$TAG")
log "built $TAG from Debian packages in $(( $(date +%s) - start )) s ($(( size / 1000000 )) MB)"
