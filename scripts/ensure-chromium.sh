#!/usr/bin/env bash
# Make sure a chromium for the browser tests is on PATH (Debian's `chromium`; Playwright drives
# it, its own browser download is never used). Idempotent: exits 0 at once when one is there.
# As root on Debian/Ubuntu (apt-get present) it installs the package; elsewhere it says what is
# missing and exits 1.
set -euo pipefail

log() { printf '[smemu setup] %s\n' "$*"; }
die() { printf '[smemu setup] ERROR: %s\n' "$*" >&2; exit 1; }

for candidate in chromium chromium-browser; do
    if command -v "$candidate" >/dev/null 2>&1; then
        log "browser for the UI tests: $("$candidate" --version 2>/dev/null || echo "$candidate")"
        exit 0
    fi
done
if [ "$EUID" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "no chromium on PATH (the browser tests need it): install it, e.g. 'sudo apt-get install chromium', or set SMEMU_CHROMIUM to its path"
fi
log "installing chromium via apt-get (this may take a minute)"
export DEBIAN_FRONTEND=noninteractive
apt_log=$(mktemp "${TMPDIR:-/tmp}/smemu-apt.XXXXXX")
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core; } \
    >"$apt_log" 2>&1; then
    tail -n 20 "$apt_log" >&2
    rm -f "$apt_log"
    die "apt-get install chromium failed (output above)"
fi
rm -f "$apt_log"
command -v chromium >/dev/null 2>&1 || die "chromium installed but not on PATH"
log "installed $(chromium --version 2>/dev/null || echo chromium)"
