"""Shared fixture: one tiny random chat model for the rollout tests that run a real generator."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tmp_path_factory):
    """A saved 2-layer Qwen2 chat model (vocab 512, hidden 64) with its ChatML tokenizer."""
    from mimo.generate.tiny_model import build_tiny_chat_model, default_tokenizer_texts

    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny"), texts=default_tokenizer_texts(200, 50),
                                 vocab_size=512, hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=2)
