#!/usr/bin/env bash
# The main job: the toy trainer as a managed-spot job, checkpoints mirrored to the embedded S3,
# two spot interruptions injected, resumed from its last checkpoint each time, then Completed.
#   make demo             (sets everything up first)
#   KEEP=1 make demo      (leave the endpoint running afterwards, to inspect the job)
set -euo pipefail
cd "$(dirname "$0")/.."
SMEMU=${SMEMU:-.venv/bin/smemu}
AWS=${AWS:-.venv/bin/aws}
URL=${SMEMU_ENDPOINT_URL:-http://127.0.0.1:4590}
JOB="smemu-demo-$(date +%Y%m%d-%H%M%S)"
CKPT="s3://smemu-demo/checkpoints/$JOB"

source examples/endpoint.sh

echo "== Running $JOB: 60 steps, a checkpoint every 5, interrupted after 4 s of training twice"
status=0
"$SMEMU" run --endpoint-url "$URL" --image smemu-toy-trainer:latest --job-name "$JOB" \
    --spot --max-run 600 --max-wait 900 \
    --checkpoint-s3-uri "$CKPT" \
    --interrupt after=4s --interrupt after=4s --grace-period 10s \
    -H total_steps=60 -H checkpoint_interval=5 -H seconds_per_step=0.15 || status=$?

echo
echo "== The checkpoints in the embedded S3 ($CKPT):"
AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 \
    "$AWS" --endpoint-url "$URL" s3 ls --recursive "$CKPT/"
echo
echo "== Where each attempt resumed:"
"$SMEMU" logs --endpoint-url "$URL" "$JOB" | grep -E "resumed from|starting from scratch|training complete" || true
if [ "$started" = yes ] && [ -z "${KEEP:-}" ]; then
    echo "(the endpoint this demo started is stopped now; KEEP=1 make demo keeps it running)"
fi
exit "$status"
