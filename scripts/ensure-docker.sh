#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# Idempotent: exits 0 at once when the daemon already answers. Otherwise, when
# running as root on Debian/Ubuntu (apt-get present), installs `docker.io`,
# starts `dockerd` in the background and waits up to 60 s for it. Anywhere
# else it says what is missing and exits 1.
set -euo pipefail

log() { printf '[smemu setup] %s\n' "$*"; }
die() { printf '[smemu setup] ERROR: %s\n' "$*" >&2; exit 1; }

DOCKERD_LOG=/var/log/smemu-dockerd.log
WAIT_SECONDS=60

docker_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if docker_answers; then
    log "docker engine is running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))"
    exit 0
fi

have_cli=no
command -v docker >/dev/null 2>&1 && have_cli=yes
have_dockerd=no
command -v dockerd >/dev/null 2>&1 && have_dockerd=yes

if [ "$EUID" -ne 0 ]; then
    if [ "$have_cli" = no ]; then
        die "no docker CLI found and not root: install Docker (e.g. 'sudo apt-get install docker.io') and start it, then re-run"
    fi
    die "docker CLI present but the daemon does not answer 'docker info' (not running, or no permission on /var/run/docker.sock), and not root so cannot start it: start dockerd or add your user to the 'docker' group"
fi

if [ "$have_cli" = no ] || [ "$have_dockerd" = no ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        die "no docker CLI/daemon found and apt-get is not available (not Debian/Ubuntu): install Docker with your system's package manager and start it"
    fi
    log "installing docker.io via apt-get (this may take a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt_log=$(mktemp "${TMPDIR:-/tmp}/smemu-apt.XXXXXX")
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io; } \
        >"$apt_log" 2>&1; then
        tail -n 20 "$apt_log" >&2
        rm -f "$apt_log"
        die "apt-get install docker.io failed (output above)"
    fi
    rm -f "$apt_log"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but dockerd is not on PATH"
fi

if command -v pgrep >/dev/null 2>&1 && pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd process exists but does not answer yet; waiting for it"
else
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    dockerd_pid=$!
    disown || true
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if docker info >/dev/null 2>&1; then
        log "docker engine is running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null || echo '?'))"
        exit 0
    fi
    if [ -n "${dockerd_pid:-}" ] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
        log "last lines of $DOCKERD_LOG:"
        tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
        die "dockerd exited during start-up (see $DOCKERD_LOG; inside a container it needs --privileged)"
    fi
    sleep 1
done

log "last lines of $DOCKERD_LOG:"
tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
die "dockerd did not answer 'docker info' within ${WAIT_SECONDS}s (see $DOCKERD_LOG)"
