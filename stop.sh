#!/usr/bin/env bash
# Stop what start.sh started (producer first, Kafka last): SIGTERM, then SIGKILL after a timeout.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2p' "$0" | cut -c3-; exit 0; fi
if [ ! -x .venv/bin/python ]; then echo "nothing to stop: start.sh never ran here (no .venv)"; exit 0; fi
exec .venv/bin/python -m scripts.stack stop
