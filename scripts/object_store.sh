#!/usr/bin/env bash
# Local S3-compatible server (SeaweedFS) without Docker: install | start | stop | status | env (see --help).
#   eval "$(scripts/object_store.sh env)"   puts AWS_* and LAKE_ROOT=s3://... into this shell
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/python -m scripts.object_store "$@"
