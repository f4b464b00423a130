#!/usr/bin/env bash
# Set up the environment if needed, then run the whole test suite (extra args go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TMPDIR="${TMPDIR:-/tmp}"
export HF_HOME="${HF_HOME:-$TMPDIR/mimo-test-hf}"
export TORCH_EXTENSIONS_DIR="${TORCH_EXTENSIONS_DIR:-$TMPDIR/mimo-test-torch-ext}"
export MPLCONFIGDIR="${MPLCONFIGDIR:-$TMPDIR/mimo-test-mpl}"
exec .venv/bin/python -m pytest "$@"
