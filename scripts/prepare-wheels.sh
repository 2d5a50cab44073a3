#!/usr/bin/env bash
# Prepare the Python wheels an image needs, on the host, for the image's Python.
#
#   scripts/prepare-wheels.sh DIR
#
# Reads DIR/requirements.txt and fills DIR/wheels/ (gitignored) with every wheel
# needed to install it offline -- plus pip's own wheel, so that an image without
# pip can run `python3 /wheels/pip-X.whl/pip install --no-index --find-links /wheels`
# inside `docker build --network none`.
#
# Target (the image's Python, not necessarily the host's): CPython
# $SMEMU_WHEELS_PYTHON_VERSION (default 3.11), glibc <= $SMEMU_WHEELS_GLIBC
# (default 2.36, Debian bookworm), the host's architecture. Binary wheels are
# downloaded for that target (`pip download --platform ...`); a requirement with
# no such wheel on the index (an sdist only, e.g. sagemaker-training and its C
# extension) is built on the host with `pip wheel`, which needs a host Python of
# the target version when the package has C code (gcc and Python headers too).
#
# Reuse: when DIR/wheels already satisfies requirements.txt offline, nothing is
# fetched (a second run takes a few seconds). Wheels no longer needed are removed.
#
# Environment:
#   SMEMU_WHEELS_PYTHON          host Python to run pip with (default: the repo's
#                                .venv, else python3.11, else python3)
#   SMEMU_WHEELS_PYTHON_VERSION  target Python version (default 3.11)
#   SMEMU_WHEELS_GLIBC           newest glibc the target has (default 2.36)
set -euo pipefail

log() { printf '[smemu wheels] %s\n' "$*"; }
die() { printf '[smemu wheels] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || { sed -n '2,26p' "$0"; exit 2; }
case "$1" in -h|--help) sed -n '2,26p' "$0"; exit 0 ;; esac

dir="$(cd "$1" && pwd)" || die "no such directory: $1"
req="$dir/requirements.txt"
wheels="$dir/wheels"
[ -f "$req" ] || die "$req not found"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

py_version="${SMEMU_WHEELS_PYTHON_VERSION:-3.11}"
glibc="${SMEMU_WHEELS_GLIBC:-2.36}"
arch="$(uname -m)"
glibc_minor="${glibc#2.}"
[[ "$glibc" == 2.* && "$glibc_minor" =~ ^[0-9]+$ ]] || die "SMEMU_WHEELS_GLIBC=$glibc: want 2.N"
abi="cp${py_version//./}"

# --- the host pip ------------------------------------------------------------
has_pip() { "$1" -m pip --version >/dev/null 2>&1; }
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

pick_python() {
    if [ -n "${SMEMU_WHEELS_PYTHON:-}" ]; then
        has_pip "$SMEMU_WHEELS_PYTHON" || die "SMEMU_WHEELS_PYTHON=$SMEMU_WHEELS_PYTHON has no pip"
        echo "$SMEMU_WHEELS_PYTHON"; return
    fi
    local fallback="" candidate
    for candidate in "$repo/.venv/bin/python" "python$py_version" python3; do
        if command -v "$candidate" >/dev/null 2>&1 && has_pip "$candidate"; then
            # Prefer a Python of the target version: it can build C extensions for it.
            if [ "$(version_of "$candidate")" = "$py_version" ]; then
                echo "$candidate"; return
            fi
            [ -n "$fallback" ] || fallback="$candidate"
        fi
    done
    [ -n "$fallback" ] || die "no Python with pip on this host (make venv creates .venv; or set SMEMU_WHEELS_PYTHON)"
    echo "$fallback"
}
py="$(pick_python)"
host_version="$(version_of "$py")"

pip_run() {  # pip_run install|download|wheel ARGS...
    local command="$1"; shift
    "$py" -m pip "$command" --disable-pip-version-check --no-input --progress-bar off "$@"
}

target_args=(--only-binary=:all: --implementation cp --python-version "$py_version"
             --abi "$abi" --abi abi3 --abi none)
for (( minor = glibc_minor; minor >= 17; minor-- )); do
    target_args+=(--platform "manylinux_2_${minor}_${arch}")
done
# manylinux2014 = 2_17 under its old name; linux_<arch> = wheels built here by `pip wheel`.
target_args+=(--platform "manylinux2014_${arch}" --platform "linux_${arch}")

mkdir -p "$wheels"
work="$(mktemp -d "${TMPDIR:-/tmp}/smemu-wheels.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The set of wheels that installs requirements.txt (+ pip) for the target, using
# DIR/wheels only. Succeeds only when nothing is missing.
resolve_offline() {
    pip_run install --dry-run --ignore-installed --quiet --target "$work/target" \
        --report "$work/report.json" --no-index --find-links "$wheels" \
        "${target_args[@]}" -r "$req" pip >"$work/offline.log" 2>&1
}

prune_unused() {
    "$py" - "$work/report.json" "$wheels" <<'EOF'
import json, os, sys, urllib.parse, urllib.request
report, wheels = sys.argv[1], sys.argv[2]
used = set()
for item in json.load(open(report))["install"]:
    url = item["download_info"]["url"]
    used.add(os.path.basename(urllib.request.url2pathname(urllib.parse.urlparse(url).path)))
for name in sorted(os.listdir(wheels)):
    if name.endswith(".whl") and name not in used:
        os.remove(os.path.join(wheels, name))
        print(f"[smemu wheels] removed unused {name}")
EOF
}

summary() {
    local count size
    count=$(find "$wheels" -maxdepth 1 -name '*.whl' | wc -l)
    size=$(du -sm "$wheels" | cut -f1)
    log "$1: $count wheels, ${size} MB in ${wheels#"$repo"/} ($(( $(date +%s) - start )) s)"
}

start=$(date +%s)
target="cp$py_version manylinux_2_${glibc_minor} $arch"
if resolve_offline; then
    prune_unused
    summary "up to date for $target"
    exit 0
fi

log "fetching wheels for $target with $py (Python $host_version)"
built=()
for _ in $(seq 1 20); do
    if pip_run download --find-links "$wheels" -d "$wheels" "${target_args[@]}" \
            -r "$req" pip >"$work/download.log" 2>&1; then
        break
    fi
    # e.g. "ERROR: No matching distribution found for inotify_simple==1.2.1 (from sagemaker-training)"
    missing="$(sed -n 's/^ERROR: No matching distribution found for \([^ ]*\).*/\1/p' \
        "$work/download.log" | head -n 1)"
    if [ -z "$missing" ]; then
        tail -n 30 "$work/download.log" >&2
        die "pip download failed (output above)"
    fi
    for done_already in "${built[@]+"${built[@]}"}"; do
        if [ "$done_already" = "$missing" ]; then
            tail -n 30 "$work/download.log" >&2
            die "built $missing on the host, but not as a wheel for $target: it has C code and the host Python is $host_version; set SMEMU_WHEELS_PYTHON to a Python $py_version with pip"
        fi
    done
    # No wheel for the target on the index: build one from the sdist here.
    log "building a wheel for $missing on the host (sdist only)"
    if ! pip_run wheel --no-deps -w "$wheels" "$missing" >"$work/wheel.log" 2>&1; then
        tail -n 30 "$work/wheel.log" >&2
        die "pip wheel $missing failed (output above)"
    fi
    built+=("$missing")
done

if ! resolve_offline; then
    tail -n 30 "$work/offline.log" >&2
    die "the wheels in $wheels do not install requirements.txt offline (output above)"
fi
prune_unused
summary "prepared for $target"
