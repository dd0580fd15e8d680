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
  # The portal's browser tests: Debian's Chromium (driven by Playwright, which downloads no
  # browser of its own) and a CJK font for the Chinese pages.
  if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    SUDO=$(command -v sudo || true)
    $SUDO apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 \
      || { $SUDO apt-get update -q >/dev/null && $SUDO apt-get install -y -q chromium fonts-noto-cjk >/dev/null; }
  fi
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi
# The portal's front-end packages (htmx, ECharts; axe-core for the tests) from the npm registry,
# at the versions package-lock.json pins.  Without npm the portal still works with JavaScript off.
if command -v npm >/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
else
  echo "no npm: the portal is served without its front-end packages (JavaScript off)"
fi
