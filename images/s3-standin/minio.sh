#!/bin/sh
# MinIO's command line, served by `rclone serve s3`:
#   minio server DIR [--address [HOST]:PORT] [--console-address ...]
# with MinIO's MINIO_ROOT_USER / MINIO_ROOT_PASSWORD as the access key pair.
# Buckets are the directories under DIR; objects are files (disk-backed).
set -eu
die() { echo "minio (rclone stand-in): $*" >&2; exit 2; }
[ "${1:-}" = server ] || die "only 'server DIR' is supported, got: $*"
shift
address=":9000"
dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --address) address="$2"; shift 2 ;;
        --address=*) address="${1#--address=}"; shift ;;
        --console-address) shift 2 ;;  # no console here
        --console-address=*) shift ;;
        -*) die "unsupported flag: $1" ;;
        *) dir="$1"; shift ;;
    esac
done
[ -n "$dir" ] || die "no data directory given"
user="${MINIO_ROOT_USER:-minioadmin}"
password="${MINIO_ROOT_PASSWORD:-minioadmin}"
mkdir -p "$dir"
echo "minio (rclone stand-in): serving S3 on $address from $dir"
exec rclone serve s3 --addr "$address" --auth-key "$user,$password" --config /dev/null \
    --log-level NOTICE "$dir"
