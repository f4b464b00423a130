"""MTP helpers: the post-pretraining expansion (copy layer 0, train only the copies) and draft logits
for speculative decoding.

MiMo-7B pretrains one MTP layer; afterwards it is replicated into two more layers, which are fine-tuned
with the main model and the first MTP layer frozen. ``expand_mtp_layers(model, 3)`` then
``freeze_for_mtp_expansion(model)`` sets that up.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch

from mimo.model.modeling_mimo import MiMoForCausalLM


def expand_mtp_layers(model: MiMoForCausalLM, num_layers: int) -> MiMoForCausalLM:
    """Grow ``model.model.mtp_layers`` to ``num_layers`` by copying layer 0 (weights, dtype, device)
    into each new layer; updates ``config.num_nextn_predict_layers``. Returns ``model`` (in place)."""
    layers = model.model.mtp_layers
    if len(layers) == 0:
        raise ValueError("the model has no MTP layer to copy")
    if num_layers < len(layers):
        raise ValueError(f"cannot shrink {len(layers)} MTP layers to {num_layers}")
    for k in range(len(layers), num_layers):
        layer = copy.deepcopy(layers[0])
        layer.mtp_index = k
        layer.self_attn.layer_idx = model.config.num_hidden_layers + k
        layers.append(layer)
    model.config.num_nextn_predict_layers = num_layers
    return model


def freeze_for_mtp_expansion(model: MiMoForCausalLM, first_trainable: int = 1) -> list[str]:
    """Freeze everything (body, shared embedding and head, MTP layers < ``first_trainable``); leave MTP
    layers >= ``first_trainable`` trainable. Returns the names of the trainable parameters."""
    if first_trainable >= len(model.model.mtp_layers):
        raise ValueError(f"no MTP layer >= {first_trainable} to train; call expand_mtp_layers first")
    model.requires_grad_(False)
    for layer in model.model.mtp_layers[first_trainable:]:
        layer.requires_grad_(True)
    return [name for name, p in model.named_parameters() if p.requires_grad]


def freeze_mtp_layers(model: MiMoForCausalLM) -> None:
    """Freeze all MTP layers (the recipe keeps them frozen during RL); the rest is untouched."""
    model.model.mtp_layers.requires_grad_(False)


class MTPDraft(NamedTuple):
    logits: torch.Tensor  # (batch, T, vocab): position i predicts x[i+2+layer]
    hidden_states: torch.Tensor  # (batch, T, hidden): the layer's output before final_layernorm


@torch.no_grad()
def mtp_draft_logits(model: MiMoForCausalLM, hidden_states: torch.Tensor, next_token_ids: torch.Tensor,
                     layer: int = 0, position_ids: torch.Tensor | None = None,
                     attention_mask: torch.Tensor | None = None) -> MTPDraft:
    """Logits of MTP layer ``layer`` over a whole sequence (no KV cache).

    ``hidden_states[:, i]`` is what the layer fuses at position i: for layer 0 the main model's
    ``pre_norm_hidden_state`` (a forward output); for layer k > 0 the previous layer's
    ``MTPDraft.hidden_states`` (or again the main one when ``config.mtp_hidden_source == "main"``).
    ``next_token_ids[:, i]`` is ``x[i+1+layer]``: the inputs shifted left by ``1+layer``, ending with the
    tokens decoded or drafted so far. ``attention_mask`` is a 2D padding or 4D mask, as for ``forward``.
    """
    embeds = model.model.embed_tokens(next_token_ids)
    if position_ids is None:
        position_ids = torch.arange(next_token_ids.shape[1], device=next_token_ids.device)[None]
    masks = model.model.build_attention_masks(embeds, attention_mask, None, position_ids)
    position_embeddings = model.model.rotary_emb(embeds, position_ids)
    hidden = model.mtp_layer_forward(layer, hidden_states, embeds, position_embeddings,
                                     masks["full_attention"], position_ids)
    return MTPDraft(model.mtp_logits_from_hidden(layer, hidden), hidden)


@torch.no_grad()
def greedy_draft(model: MiMoForCausalLM, input_ids: torch.Tensor, num_draft: int | None = None) -> torch.Tensor:
    """Greedy next token from the main head plus ``num_draft`` (default: all MTP layers) draft tokens,
    one per MTP layer, for unpadded ``input_ids`` (batch, T). Returns (batch, 1 + num_draft)."""
    num_draft = len(model.model.mtp_layers) if num_draft is None else num_draft
    if num_draft > len(model.model.mtp_layers):
        raise ValueError(f"{num_draft} drafts need {num_draft} MTP layers")
    out = model(input_ids=input_ids, use_cache=False)
    tokens = [out.logits[:, -1].argmax(-1)]
    main_h = hidden = out.pre_norm_hidden_state
    for k in range(num_draft):
        next_ids = torch.cat([input_ids[:, 1 + k:], torch.stack(tokens, dim=1)], dim=1)
        next_ids = next_ids[:, -input_ids.shape[1]:]  # prompts shorter than the draft chain
        source = hidden if model.config.mtp_hidden_source == "previous" else main_h
        draft = mtp_draft_logits(model, source, next_ids, layer=k)
        hidden = draft.hidden_states
        tokens.append(draft.logits[:, -1].argmax(-1))
    return torch.stack(tokens, dim=1)


__all__ = ["MTPDraft", "expand_mtp_layers", "freeze_for_mtp_expansion", "freeze_mtp_layers",
           "greedy_draft", "mtp_draft_logits"]
