#!/usr/bin/env bash
# Set up and run every check: lint, format, types, and the test suite (SQLite and the local PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/ruff check trustspace tests bench
.venv/bin/ruff format --check trustspace tests bench
.venv/bin/mypy trustspace
.venv/bin/lint-imports
.venv/bin/pytest -p no:cacheprovider "$@"
