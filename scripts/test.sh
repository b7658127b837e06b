#!/usr/bin/env bash
# The whole check: lint, format, types on the pure core, the import layers, then the test suite against a real
# PostgreSQL server started here (unless TEST_DATABASE_URL already names one).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

$BIN/ruff check src tests benchmarks
$BIN/ruff format --check src tests benchmarks
$BIN/mypy
$BIN/lint-imports --no-cache  # the layers of docs/architecture.md

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pgdir=$(mktemp -d /tmp/energy-agents-pg.XXXXXX)
  TEST_DATABASE_URL=$(bash scripts/start_postgres.sh "$pgdir")
  export TEST_DATABASE_URL
  trap 'bash scripts/stop_postgres.sh "$pgdir" || true' EXIT
fi

PYTHON=$BIN/python bash benchmarks/setup_citylearn_venv.sh  # CityLearn's own venv for tests/test_citylearn_run.py
$BIN/pytest "$@"
