#!/usr/bin/env bash
# Platform health: broker reachable, each process alive, topic end offsets and consumer lag, lake tables.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
exec "$PY" -m scripts.status "$@"
