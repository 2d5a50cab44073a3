#!/usr/bin/env bash
# A two-instance managed-spot job: hosts algo-1 and algo-2 share one checkpoint prefix, one spot
# interruption takes both down, both resume from their own checkpoint, the job completes.
# Then the same job with one checkpoint file name for both hosts, which smemu flags as an
# overwrite conflict (on SageMaker the hosts silently overwrite each other's checkpoint).
#   make demo-cluster     (sets everything up first)
set -euo pipefail
cd "$(dirname "$0")/.."
SMEMU=${SMEMU:-.venv/bin/smemu}
URL=${SMEMU_ENDPOINT_URL:-http://127.0.0.1:4590}
STAMP=$(date +%Y%m%d-%H%M%S)

source examples/endpoint.sh

run() {  # run JOB EXTRA_ARGS...
    local job=$1; shift
    "$SMEMU" run --endpoint-url "$URL" --image smemu-toy-trainer:latest --job-name "$job" \
        --instance-count 2 --spot --max-run 600 --max-wait 900 \
        --checkpoint-s3-uri "s3://smemu-demo/checkpoints/$job" \
        --interrupt after=4s --grace-period 10s \
        -H total_steps=40 -H checkpoint_interval=5 -H seconds_per_step=0.15 "$@"
}

echo "== smemu-cluster-$STAMP: 2 instances, a checkpoint per host, one interruption"
run "smemu-cluster-$STAMP" -H per_host_checkpoints=true
echo
echo "== smemu-cluster-conflict-$STAMP: both hosts write checkpoint.json to the same key"
run "smemu-cluster-conflict-$STAMP" --no-logs
