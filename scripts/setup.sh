#!/usr/bin/env bash
# Create .venv and install the project (idempotent: reinstalls only when pyproject.toml changed).
# CPU machines get torch==2.13.0 (the CPU build on this machine's disk), never a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh  # Debian packages (bubblewrap for the code sandbox); quick when present
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "[setup] installing the project and its dependencies into .venv (a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import dagster, torch, trafilatura, duckdb" || { echo "[setup] install failed" >&2; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi
