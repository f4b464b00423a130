"""The vllm backend: a clear message without vllm; a real run only where vllm and CUDA exist."""

from __future__ import annotations

import importlib.util

import pytest

from mimo.generate.base import SamplingParams
from mimo.generate.config import GeneratorConfig, make_generator

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed in this environment")
def test_missing_vllm_gives_clear_instructions():
    from mimo.generate.vllm_backend import VLLMGenerator

    with pytest.raises(ImportError) as err:
        VLLMGenerator("some/model")
    message = str(err.value)
    for hint in ("separate environment", "CUDA", "vllm serve", "openai", "[vllm]"):
        assert hint in message
    with pytest.raises(ImportError, match="vllm serve"):
        make_generator(GeneratorConfig(backend="vllm", model="some/model"))


@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (optional extra, CUDA only)")
def test_vllm_generates_with_counts(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA device")
    from mimo.generate.tiny_model import build_tiny_chat_model, default_tokenizer_texts
    from mimo.generate.vllm_backend import VLLMGenerator

    # head_dim 64: what vLLM's attention kernels expect
    model_dir = build_tiny_chat_model(tmp_path, texts=default_tokenizer_texts(400, 100),
                                      vocab_size=1024, hidden_size=128, num_layers=2, num_heads=2,
                                      num_kv_heads=1)
    gen = VLLMGenerator(str(model_dir), gpu_memory_utilization=0.3, max_model_len=512)
    messages = [{"role": "user", "content": "How many apples?"}]
    out = gen.generate(messages, SamplingParams(n=2, temperature=1.0, max_tokens=8, seed=1))
    assert len(out) == 2
    assert all(c.finish_reason in ("stop", "length") and 1 <= c.completion_tokens <= 8 for c in out)
    assert out[0].prompt_tokens == len(gen.encode_chat(messages))
    state = AutoModelForCausalLM.from_pretrained(model_dir).state_dict()
    assert gen.load_weights(state) == len(state)
    gen.close()
