# Sourced by the demos: start the local endpoint unless one runs, and stop it on exit when this
# script started it (KEEP=1 leaves it running). Needs SMEMU and URL set.
started=no
if ! "$SMEMU" status --port "${URL##*:}" >/dev/null 2>&1; then
    "$SMEMU" up
    started=yes
fi
finish() {
    if [ "$started" = yes ] && [ -z "${KEEP:-}" ]; then "$SMEMU" down --port "${URL##*:}" >/dev/null; fi
}
trap finish EXIT
