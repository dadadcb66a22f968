#!/usr/bin/env bash
# Local Apache Kafka broker without Docker: start | stop | status | install (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" -m scripts.kafka_local "$@"
