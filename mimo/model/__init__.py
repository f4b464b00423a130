"""The MiMo model (Qwen2 body + MTP layers), size presets, MTP helpers and the chat tokenizer.

Importing this package registers ``MiMoConfig``/``MiMoForCausalLM`` with transformers' Auto classes.
"""

from mimo.model.configuration_mimo import MiMoConfig
from mimo.model.modeling_mimo import MiMoCausalLMOutputWithPast, MiMoForCausalLM, MiMoModel, packed_causal_mask
from mimo.model.mtp import (
    MTPDraft,
    expand_mtp_layers,
    freeze_for_mtp_expansion,
    freeze_mtp_layers,
    greedy_draft,
    mtp_draft_logits,
)
from mimo.model.presets import PRESETS, ModelPreset, create_model, get_preset
from mimo.model.tokenizer import CHAT_TEMPLATE, ENDOFTEXT, IM_END, IM_START, SPECIAL_TOKENS, train_tokenizer

__all__ = [
    "CHAT_TEMPLATE", "ENDOFTEXT", "IM_END", "IM_START", "MTPDraft", "MiMoCausalLMOutputWithPast", "MiMoConfig",
    "MiMoForCausalLM", "MiMoModel", "ModelPreset", "PRESETS", "SPECIAL_TOKENS", "create_model",
    "expand_mtp_layers", "freeze_for_mtp_expansion", "freeze_mtp_layers", "get_preset", "greedy_draft",
    "mtp_draft_logits", "packed_causal_mask", "train_tokenizer",
]
