#!/usr/bin/env bash
# Set up the environment if needed, then materialize every asset on a profile (default: tiny).
#   scripts/run.sh [--profile tiny] [--only-new]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec .venv/bin/python -m pipelines.run "$@"
