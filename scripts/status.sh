#!/usr/bin/env bash
# Platform health: broker reachable, each process alive, topic end offsets and consumer lag, lake tables.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "error: not installed here yet (no .venv): run ./start.sh, or scripts/setup.sh" >&2; exit 2
fi
exec .venv/bin/python -m scripts.status "$@"
