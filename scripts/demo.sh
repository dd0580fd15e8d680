#!/usr/bin/env bash
# Set up and run the demo data space (provider + consumer on loopback). Extra arguments go to `trustspace demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/trustspace demo "$@"
