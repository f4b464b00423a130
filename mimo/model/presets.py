"""Model size presets: ``tiny`` (CPU, minutes, fp32) and ``mimo-7b`` (the released MiMo-7B shapes).

A preset is a typed, frozen description; ``preset.to_config(stage, tokenizer=...)`` gives the
``MiMoConfig`` for one pretraining stage (RoPE θ changes with the stage: 10k in stages 1-2, 640k in
stage 3, with the context growing 4x), and ``create_model`` builds a fresh ``MiMoForCausalLM``.

mimo-7b values come from the released ``config.json`` (XiaomiMiMo/MiMo, PR 29 copy) and the report:
vocab 151680, hidden 4096, 36 layers, FFN 11008, 32 query / 8 KV heads (head_dim 128), QKV bias,
untied embeddings, RMSNorm eps 1e-5, max positions 32768, bf16, one MTP layer in pretraining.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from mimo.model.configuration_mimo import MiMoConfig


class StageShape(BaseModel):
    """Context length and RoPE base of one pretraining stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    seq_len: int = Field(gt=1)
    rope_theta: float = Field(gt=0)


class ModelPreset(BaseModel):
    """Architecture sizes of a MiMo-style model (Qwen2 body + MTP layers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    vocab_size: int = Field(gt=0)  # used when no tokenizer is given
    vocab_multiple: int = Field(1, ge=1)  # pad a tokenizer's size up to a multiple of this
    hidden_size: int = Field(gt=0)
    intermediate_size: int = Field(gt=0)
    num_hidden_layers: int = Field(gt=0)
    num_attention_heads: int = Field(gt=0)
    num_key_value_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    num_nextn_predict_layers: int = Field(1, ge=0)
    max_position_embeddings: int = Field(gt=0)
    rms_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = False
    dtype: Literal["float32", "bfloat16"] = "float32"
    stages: tuple[StageShape, StageShape, StageShape]

    def stage(self, stage: int) -> StageShape:
        """Shape of pretraining stage 1, 2 or 3."""
        if stage not in (1, 2, 3):
            raise ValueError(f"stage must be 1, 2 or 3, got {stage}")
        return self.stages[stage - 1]

    def padded_vocab(self, tokenizer_size: int) -> int:
        """``tokenizer_size`` rounded up to ``vocab_multiple``."""
        return -(-tokenizer_size // self.vocab_multiple) * self.vocab_multiple

    def to_config(self, stage: int = 1, tokenizer: Any = None, **overrides: Any) -> MiMoConfig:
        """``MiMoConfig`` for ``stage``; a tokenizer sets the vocabulary size and eos/pad/bos ids;
        ``overrides`` are any further ``MiMoConfig`` fields."""
        fields: dict[str, Any] = {
            "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size, "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads, "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim, "num_nextn_predict_layers": self.num_nextn_predict_layers,
            "max_position_embeddings": self.max_position_embeddings, "rms_norm_eps": self.rms_norm_eps,
            "initializer_range": self.initializer_range, "tie_word_embeddings": self.tie_word_embeddings,
            "rope_parameters": {"rope_type": "default", "rope_theta": float(self.stage(stage).rope_theta)},
            "attention_bias": True, "use_sliding_window": False, "dtype": self.dtype,
        }
        if tokenizer is not None:
            fields.update(vocab_size=self.padded_vocab(len(tokenizer)), eos_token_id=tokenizer.eos_token_id,
                          pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
        fields.update(overrides)
        return MiMoConfig(**fields)

    def num_parameters(self, vocab_size: int | None = None, mtp_layers: int | None = None) -> int:
        """Parameter count (body + MTP layers), computed without building the model."""
        v = self.vocab_size if vocab_size is None else vocab_size
        n_mtp = self.num_nextn_predict_layers if mtp_layers is None else mtp_layers
        h, f = self.hidden_size, self.intermediate_size
        q, kv = self.num_attention_heads * self.head_dim, self.num_key_value_heads * self.head_dim
        block = (h * q + q) + 2 * (h * kv + kv) + q * h + 3 * h * f + 2 * h
        mtp = block + 2 * h * h + 3 * h
        head = 0 if self.tie_word_embeddings else v * h
        return v * h + self.num_hidden_layers * block + h + head + n_mtp * mtp


# tiny: the shape the default-profile sweep picked (bench/bench_tiny_budget.py, docs/budgets.md): at a
# fixed few minutes on two cores, tokens seen matter more than width, so a narrow 4-layer body
TINY = ModelPreset(
    name="tiny", vocab_size=1024, hidden_size=192, intermediate_size=512, num_hidden_layers=4,
    num_attention_heads=3, num_key_value_heads=1, head_dim=64, num_nextn_predict_layers=1,
    max_position_embeddings=2048, dtype="float32",
    stages=(StageShape(seq_len=512, rope_theta=10_000), StageShape(seq_len=512, rope_theta=10_000),
            StageShape(seq_len=2048, rope_theta=640_000)),
)

MIMO_7B = ModelPreset(
    name="mimo-7b", vocab_size=151_680, vocab_multiple=128, hidden_size=4096, intermediate_size=11_008,
    num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
    num_nextn_predict_layers=1, max_position_embeddings=32_768, dtype="bfloat16",
    stages=(StageShape(seq_len=8192, rope_theta=10_000), StageShape(seq_len=8192, rope_theta=10_000),
            StageShape(seq_len=32_768, rope_theta=640_000)),
)

PRESETS: dict[str, ModelPreset] = {p.name: p for p in (TINY, MIMO_7B)}


def get_preset(name: str) -> ModelPreset:
    """Preset by name (``tiny`` or ``mimo-7b``)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown model preset {name!r}; known: {sorted(PRESETS)}") from None


def create_model(preset: str | ModelPreset, stage: int = 1, tokenizer: Any = None, seed: int | None = 0,
                 **overrides: Any):
    """A freshly initialized ``MiMoForCausalLM`` for ``preset``, seeded, cast to the config's dtype
    (the preset's unless overridden)."""
    from mimo.model.modeling_mimo import MiMoForCausalLM

    p = get_preset(preset) if isinstance(preset, str) else preset
    config = p.to_config(stage, tokenizer=tokenizer, **overrides)
    if seed is not None:
        torch.manual_seed(seed)
    model = MiMoForCausalLM(config)
    return model.to(config.dtype) if isinstance(config.dtype, torch.dtype) else model


__all__ = ["MIMO_7B", "PRESETS", "TINY", "ModelPreset", "StageShape", "create_model", "get_preset"]
