#!/usr/bin/env bash
# Make sure a docker-compose answers (docker-compose.yml at the top level; its test).
#
# Idempotent: exits 0 at once when `docker compose` (the plugin) or `docker-compose`
# answers. Otherwise, as root with apt-get (Debian/Ubuntu), installs Debian's
# `docker-compose` package. Anywhere else it says what is missing and exits 1.
set -euo pipefail

log() { printf '[smemu setup] %s\n' "$*"; }
die() { printf '[smemu setup] ERROR: %s\n' "$*" >&2; exit 1; }

if docker compose version >/dev/null 2>&1; then
    log "docker compose plugin present ($(docker compose version --short 2>/dev/null || echo '?'))"
    exit 0
fi
if command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
    log "docker-compose present ($(docker-compose version --short 2>/dev/null || echo '?'))"
    exit 0
fi
if [ "$EUID" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "no docker-compose: install Debian's docker-compose package (sudo apt-get install docker-compose) or Docker's compose plugin, then re-run"
fi

log "installing docker-compose via apt-get"
export DEBIAN_FRONTEND=noninteractive
apt_log=$(mktemp "${TMPDIR:-/tmp}/smemu-apt.XXXXXX")
trap 'rm -f "$apt_log"' EXIT
if ! { apt-get install -y -qq --no-install-recommends docker-compose \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker-compose; }; } \
        >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    die "apt-get install docker-compose failed (output above)"
fi
log "docker-compose installed ($(docker-compose version --short 2>/dev/null || echo '?'))"
