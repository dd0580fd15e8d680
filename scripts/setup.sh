#!/usr/bin/env bash
# Create .venv with Python 3.11 and install trustspace (and, with "test", its test tools).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "${1:-}" = "test" ]; then
  # The Spark engine's tests need a Java runtime.
  if ! command -v java >/dev/null; then
    SUDO=$(command -v sudo || true)
    $SUDO apt-get install -y -q openjdk-17-jre-headless >/dev/null || echo "no Java: Spark engine tests will skip"
  fi
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
