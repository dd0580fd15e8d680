#!/usr/bin/env bash
# Set up and run the demo data space on loopback: an operator onboards a provider, a consumer and an assessor; they trade, list and certify. Extra arguments go to `trustspace demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/trustspace demo "$@"
