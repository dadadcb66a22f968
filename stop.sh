#!/usr/bin/env bash
# Stop what start.sh started (producer first, Kafka last): SIGTERM, then SIGKILL after a timeout.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2p' "$0" | cut -c3-; exit 0; fi
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
exec "$PY" -m scripts.stack stop
