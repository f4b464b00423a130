"""Shared fixtures: one tiny random chat model (built once per session) and its generator."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A saved Qwen2 model (0.16M parameters, vocab 1024, hidden 64, 2 layers) with the ChatML tokenizer."""
    from mimo.generate.tiny_model import build_tiny_chat_model, default_tokenizer_texts

    out = tmp_path_factory.mktemp("tiny_model")
    return build_tiny_chat_model(out, texts=default_tokenizer_texts(400, 100), vocab_size=1024,
                                 hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                                 seed=0)


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_dir):
    """A CPU :class:`TransformersGenerator` over the tiny model (batch size 8)."""
    from mimo.generate.transformers_backend import TransformersGenerator

    gen = TransformersGenerator(str(tiny_model_dir), device="cpu", batch_size=8)
    yield gen
    gen.close()


def _chat(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Sam has {i} apples and buys {i + 3} more. " * (1 + i % 3)
             + "How many apples does Sam have now?"}]


@pytest.fixture(scope="session")
def chat():
    """``chat(i)``: a one-message conversation whose length varies with ``i`` (batches need padding)."""
    return _chat


@pytest.fixture(scope="module")
def one_torch_thread():
    """torch on one thread for a module (tiny matmuls: fastest, and robust on a shared machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
