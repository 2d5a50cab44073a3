#!/usr/bin/env bash
# The script-mode job of examples/script_mode, as the AWS CLI sends it: job.json is the
# request file `aws sagemaker create-training-job --cli-input-json` takes, unchanged for AWS
# but for the image (and the smemu: tags, which AWS ignores).
#
#   bash examples/aws_cli/run.sh [ENDPOINT_URL]      (default: $SMEMU_ENDPOINT_URL or :4590)
#
# What the SDK does for script mode, by hand: tar src/ into sourcedir.tar.gz, upload it, and
# name it in the sagemaker_submit_directory hyperparameter (a JSON string, as the SDK writes
# it); the toolkit in the image downloads it and runs sagemaker_program. JOB_NAME (default
# script-mode-aws-cli) names the job and its checkpoint prefix.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
endpoint="${1:-${SMEMU_ENDPOINT_URL:-http://127.0.0.1:4590}}"
job="${JOB_NAME:-script-mode-aws-cli}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
sm() { aws --endpoint-url "$endpoint" "$@"; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tar -czf "$work/sourcedir.tar.gz" -C "$here/../script_mode/src" .
sm s3api head-bucket --bucket script-mode 2>/dev/null || sm s3 mb s3://script-mode
sm s3 cp --quiet "$work/sourcedir.tar.gz" s3://script-mode/aws-cli/sourcedir.tar.gz

# Flags override the file: a job name and a checkpoint prefix of this run's own.
sm sagemaker create-training-job --cli-input-json "file://$here/job.json" \
    --training-job-name "$job" --checkpoint-config "S3Uri=s3://script-mode/checkpoints/$job"

# `aws sagemaker wait training-job-completed-or-stopped` polls every 120 s: poll faster.
while :; do
    status="$(sm sagemaker describe-training-job --training-job-name "$job" \
        --query TrainingJobStatus --output text)"
    case "$status" in Completed|Failed|Stopped) break ;; esac
    sleep 2
done
sm sagemaker describe-training-job --training-job-name "$job" --output text \
    --query 'join(`" -> "`, SecondaryStatusTransitions[].Status)'
echo "$job: $status"
[ "$status" = Completed ]
