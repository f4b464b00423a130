"""A tiny random-initialized chat model (Qwen2 architecture) for tests and benchmarks.

It has a real tokenizer (byte-level BPE with ChatML, :mod:`mimo.model.tokenizer`) and a real
``transformers`` model, so every generation backend can load it from a directory; its outputs are
noise. A trained MiMo-style model replaces it in a later issue.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mimo.model.tokenizer import ENDOFTEXT, IM_END, train_tokenizer


def default_tokenizer_texts(n_math: int = 2000, n_code: int = 300, seed: int = 0) -> list[str]:
    """Deterministic bundled corpus: prompts, solutions and test I/O of the procedural toy problems."""
    from mimo.problems.toy import generate_toy_problems

    problems = generate_toy_problems(n_math, n_code, seed=seed)
    texts = [p.prompt for p in problems] + [p.solution or "" for p in problems]
    texts += [t.input + t.output for p in problems for t in p.tests]
    return texts


def build_tiny_chat_model(out_dir: str | Path, *, texts: Iterable[str] | None = None,
                          vocab_size: int = 4096, hidden_size: int = 256, num_layers: int = 4,
                          num_heads: int = 4, num_kv_heads: int = 2,
                          intermediate_size: int | None = None, max_position_embeddings: int = 4096,
                          init_std: float = 0.1, seed: int = 0) -> Path:
    """Train a tokenizer on ``texts`` and save it with a random ``Qwen2ForCausalLM`` to ``out_dir``.

    The model's vocabulary is the tokenizer's actual size (at most ``vocab_size``; a small corpus
    yields fewer merges). EOS is ``<|im_end|>``, padding ``<|endoftext|>``; weights are fp32 and
    depend only on ``seed`` and the sizes. ``init_std`` (weights ~ N(0, init_std)) is larger than
    Qwen2's 0.02 so that greedy output depends on the prompt instead of repeating one token. Returns ``out_dir`` (loadable by ``from_pretrained``).
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(default_tokenizer_texts() if texts is None else texts,
                                vocab_size=vocab_size)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(ENDOFTEXT)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=hidden_size,
        intermediate_size=intermediate_size or 3 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads,
        num_key_value_heads=num_kv_heads, max_position_embeddings=max_position_embeddings,
        initializer_range=init_std, tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos_id, pad_token_id=pad_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config).to(torch.float32).eval()
    model.generation_config = GenerationConfig(eos_token_id=eos_id, pad_token_id=pad_id,
                                               bos_token_id=None)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def count_parameters(model_dir: str | Path) -> int:
    """Number of parameters of a saved model (tied embeddings counted once)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    return sum(p.numel() for p in model.parameters())
