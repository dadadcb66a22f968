#!/usr/bin/env bash
# One-shot start: installs what is missing, starts Kafka (Docker when available, else a local broker),
# creates the topic and starts ingest, ETL scheduler, dashboard and producer in the background.
# Logs in logs/<stack>/, pid files in run/<stack>/ (stack "data" on the default lake). Harmless to run again.
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,4p' "$0" | cut -c3-; exit 0; fi
scripts/setup.sh
if ! command -v docker >/dev/null || ! docker info >/dev/null 2>&1; then
  for tool in java mvn; do
    command -v "$tool" >/dev/null || { echo "error: no Docker engine and '$tool' not found: install Docker, or Java 17+ and Maven (apt-get install openjdk-17-jre-headless maven)" >&2; exit 2; }
  done
fi
exec .venv/bin/python -m scripts.stack start
