#!/usr/bin/env bash
# The one test command. On a fresh machine it installs everything first (venv and requirements, the Kafka
# broker jars and the Delta Lake jars for Spark via Maven, the S3 server (SeaweedFS, built once with Go from the
# module proxy; minutes on a fresh machine, then cached), Debian's chromium for the browser test), then runs pytest
# with any arguments given:
#   ./scripts/test.sh                 everything, after ruff (lint and format check)
#   ./scripts/test.sh -m "not e2e"    skip the long end-to-end tests
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "error: '$tool' not found: install Java 17+ and Maven (apt-get install openjdk-17-jdk-headless maven)" >&2; exit 2; }
done
.venv/bin/python -m scripts.kafka_local install
.venv/bin/python -m scripts.spark_reader install  # tests/lake/test_spark.py reads the lake with Spark
.venv/bin/python -m scripts.object_store install  # the lake-on-S3 tests need it (docs/object_store.md)
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: chromium could not be installed; the browser test will fail" >&2
  else
    echo "warning: chromium not found (apt-get install chromium); the browser test will fail" >&2
  fi
fi
if [ $# -eq 0 ]; then  # the whole run checks the code's form too (ruff, pinned in requirements.txt)
  .venv/bin/ruff check . || { echo "error: ruff check found problems (.venv/bin/ruff check --fix . fixes some)" >&2; exit 1; }
  .venv/bin/ruff format --check . || { echo "error: unformatted files: run .venv/bin/ruff format ." >&2; exit 1; }
fi
exec .venv/bin/python -m pytest "$@"
