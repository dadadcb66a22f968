#!/usr/bin/env bash
# Read the lake with Apache Spark: install (the Delta Lake jars, once) | tables (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >&2
exec .venv/bin/python -m scripts.spark_reader "$@"
