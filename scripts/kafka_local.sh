#!/usr/bin/env bash
# Local Apache Kafka broker without Docker: start | stop | status | install (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/python -m scripts.kafka_local "$@"
