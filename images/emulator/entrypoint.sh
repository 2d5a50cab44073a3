#!/bin/sh
# The emulator image's entrypoint: `smemu serve` on $SMEMU_HOST:$SMEMU_PORT, with the
# arguments as more `smemu serve` flags (e.g. --s3-endpoint-url URL).
#
# SMEMU_STATE_DIR and TMPDIR should lie in a host directory mounted at its own path
# (see docker-compose.yml); they are created when missing.
set -eu
mkdir -p "${SMEMU_STATE_DIR:-/var/lib/smemu/state}" "${TMPDIR:-/tmp}"
export SMEMU_STATE_DIR="${SMEMU_STATE_DIR:-/var/lib/smemu/state}"
# exec: smemu is the process Docker signals; on SIGTERM it stops its jobs and removes
# their containers before it exits (give it time: stop_grace_period / stop timeout).
# --allow-remote: 0.0.0.0 here is the container's own network namespace; what reaches it is
# what the port is published to (docker-compose.yml listens on 127.0.0.1 on the host network).
exec smemu serve --allow-remote --host "${SMEMU_HOST:-0.0.0.0}" --port "${SMEMU_PORT:-4590}" "$@"
