"""MiMo-7B in ``transformers``: a Qwen2 decoder plus multi-token-prediction (MTP) layers.

State-dict names are the released checkpoints' (``XiaomiMiMo/MiMo-7B-*``)::

    model.embed_tokens.weight, model.layers.{i}.*, model.norm.weight, lm_head.weight   # Qwen2 body
    model.mtp_layers.{k}.{token_layernorm,hidden_layernorm,input_proj}.weight         # MTP fusion
    model.mtp_layers.{k}.{input_layernorm,post_attention_layernorm}.weight            # Qwen2 block
    model.mtp_layers.{k}.self_attn.{q,k,v}_proj.{weight,bias}, ....self_attn.o_proj.weight
    model.mtp_layers.{k}.mlp.{gate,up,down}_proj.weight, model.mtp_layers.{k}.final_layernorm.weight

MTP layer ``k`` at position ``i`` (0-based ``k``, ``x`` the input ids)::

    e = token_layernorm(embed_tokens(x[i+1+k]))
    h = hidden_layernorm(s)        # k = 0: main last-layer hidden state at i, before model.norm
                                   # k > 0: layer k-1's output at i, before its final_layernorm
    z = Qwen2DecoderLayer(input_proj(cat([h, e])))       # the pre-norm output, fed to layer k+1
    logits = lm_head(final_layernorm(z))                  # predicts x[i+2+k]

The MTP layers run only when labels are given (or ``output_mtp_logits=True``); ``generate`` never runs
them. This module imports only ``transformers``/``torch`` and the sibling config, so
``save_pretrained`` can copy it next to a checkpoint as remote code (``auto_map``), like the release.
"""

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
from transformers.cache_utils import Cache, DynamicCache
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.models.qwen2.modeling_qwen2 import (
    Qwen2DecoderLayer,
    Qwen2ForCausalLM,
    Qwen2Model,
    Qwen2PreTrainedModel,
    Qwen2RMSNorm,
)
from transformers.utils import can_return_tuple
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

try:
    from transformers.modeling_utils import slice_logits_to_keep
except ImportError:  # transformers < 5.21 (vLLM's environment pins its own): what Qwen2 did inline
    def slice_logits_to_keep(hidden_states: torch.Tensor, logits_to_keep: int | torch.Tensor) -> torch.Tensor:
        """The last ``logits_to_keep`` positions (0: all), or the given positions."""
        keep = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        return hidden_states[:, keep, :]

from .configuration_mimo import MiMoConfig

IGNORE_INDEX = -100


def document_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """Per-token document index of a packed row: a new document starts wherever the position does
    not continue by +1 (e.g. resets to 0). ``[[0,1,2,0,1,0]] -> [[0,0,0,1,1,2]]``."""
    step = torch.diff(position_ids, dim=-1, prepend=position_ids[..., :1] - 1)
    return (step != 1).cumsum(-1)


def packed_causal_mask(position_ids: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive 4D mask ``(batch, 1, T, T)``: causal within each document of a packed row, blocked
    across documents (0 = attend, dtype min = blocked). Works with the eager and SDPA kernels."""
    docs = document_ids(position_ids)
    t = docs.shape[-1]
    causal = torch.ones(t, t, dtype=torch.bool, device=docs.device).tril()
    allowed = causal & (docs[:, :, None] == docs[:, None, :])
    mask = torch.zeros(allowed.shape, dtype=dtype, device=docs.device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


def shifted_targets(labels: torch.Tensor, shift: int,
                    position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Targets for predicting ``shift`` tokens ahead: ``out[:, i] = labels[:, i+shift]``, -100 past the
    end and wherever ``i+shift`` lies in another document than ``i`` (``position_ids`` do not continue)."""
    out = torch.full_like(labels, IGNORE_INDEX)
    t = labels.shape[-1]
    if shift >= t:
        return out
    ahead = labels[:, shift:]
    if position_ids is not None and position_ids.dim() == 2:
        pos = position_ids.to(labels.device).expand(labels.shape[0], -1)
        same_doc = (pos[:, shift:] - pos[:, :-shift]) == shift
        ahead = ahead.masked_fill(~same_doc, IGNORE_INDEX)
    out[:, : t - shift] = ahead
    return out


def token_cross_entropy(logits: torch.Tensor, targets: torch.Tensor,
                        num_items_in_batch: torch.Tensor | int | None = None) -> torch.Tensor:
    """Mean CE over targets != -100 (fp32); divided by ``num_items_in_batch`` instead when given.
    An all-ignored batch gives 0, not NaN."""
    total = F.cross_entropy(logits.float().flatten(0, -2), targets.flatten().to(logits.device),
                            ignore_index=IGNORE_INDEX, reduction="sum")
    if num_items_in_batch is None:
        num_items_in_batch = (targets != IGNORE_INDEX).sum().clamp(min=1)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch


def shift_left(x: torch.Tensor, n: int) -> torch.Tensor:
    """``out[:, i] = x[:, i+n]`` along dim 1, zero-filled past the end."""
    out = torch.zeros_like(x)
    if n < x.shape[1]:
        out[:, : x.shape[1] - n] = x[:, n:]
    return out


@dataclass
class MiMoModelOutputWithPast(BaseModelOutputWithPast):
    """``BaseModelOutputWithPast`` plus what the MTP layers reuse from the main pass."""

    pre_norm_hidden_state: torch.Tensor | None = None
    attention_masks: dict | None = None
    position_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None
    position_ids: torch.Tensor | None = None


@dataclass
class MiMoCausalLMOutputWithPast(CausalLMOutputWithPast):
    """``loss = main_loss + λ · mtp_loss`` with ``mtp_loss`` the mean of ``mtp_losses`` (one per layer)."""

    main_loss: torch.Tensor | None = None
    mtp_loss: torch.Tensor | None = None
    mtp_losses: tuple[torch.Tensor, ...] | None = None
    mtp_logits: tuple[torch.Tensor, ...] | None = None
    pre_norm_hidden_state: torch.Tensor | None = None


class MiMoMTPLayer(Qwen2DecoderLayer):
    """One MTP layer: fusion of (hidden, next-token embedding) followed by a Qwen2 decoder block.

    The block's sub-modules keep Qwen2's names (``self_attn``, ``mlp``, ``input_layernorm``,
    ``post_attention_layernorm``), which are exactly the released MTP key names.
    """

    def __init__(self, config: MiMoConfig, mtp_index: int):
        super().__init__(config, layer_idx=0)
        # own KV-cache slot after the body's layers (no cache is used in training or drafting yet)
        self.self_attn.layer_idx = config.num_hidden_layers + mtp_index
        self.mtp_index = mtp_index
        self.token_layernorm = Qwen2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.hidden_layernorm = Qwen2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.input_proj = nn.Linear(2 * config.hidden_size, config.hidden_size, bias=False)
        self.final_layernorm = Qwen2RMSNorm(config.hidden_size, eps=config.rms_norm_eps)

    def forward(self, hidden_states: torch.Tensor, inputs_embeds: torch.Tensor,
                position_embeddings: tuple[torch.Tensor, torch.Tensor],
                attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        """``hidden_states`` at position i and ``inputs_embeds`` of the token at i+1+k -> the block
        output at i, before ``final_layernorm``."""
        fused = torch.cat([self.hidden_layernorm(hidden_states), self.token_layernorm(inputs_embeds)], dim=-1)
        return super().forward(self.input_proj(fused), attention_mask=attention_mask,
                               position_ids=position_ids, position_embeddings=position_embeddings, **kwargs)


class MiMoPreTrainedModel(Qwen2PreTrainedModel):
    config: MiMoConfig
    config_class = MiMoConfig
    _no_split_modules: ClassVar[list[str]] = ["Qwen2DecoderLayer", "MiMoMTPLayer"]


class MiMoModel(MiMoPreTrainedModel, Qwen2Model):
    """Qwen2 body plus ``mtp_layers``; ``forward`` also returns the pre-final-norm hidden state."""

    def __init__(self, config: MiMoConfig):
        Qwen2Model.__init__(self, config)
        self.mtp_layers = nn.ModuleList(
            [MiMoMTPLayer(config, k) for k in range(config.num_nextn_predict_layers)])
        self.post_init()  # initializes only the new MTP modules

    def build_attention_masks(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None,
                              past_key_values: Cache | None, position_ids: torch.Tensor) -> dict:
        """Masks per layer type, as Qwen2 builds them. A 4D ``attention_mask`` is used as given; with no
        mask and no cache, resets in ``position_ids`` give a per-document block-causal mask."""
        kwargs = {"config": self.config, "inputs_embeds": inputs_embeds, "attention_mask": attention_mask,
                  "past_key_values": past_key_values, "position_ids": position_ids}
        masks = {"full_attention": create_causal_mask(**kwargs)}
        if self.has_sliding_layers:
            masks["sliding_attention"] = create_sliding_window_causal_mask(**kwargs)
        return masks

    @merge_with_config_defaults
    @capture_outputs
    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None, past_key_values: Cache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool | None = None,
                **kwargs) -> MiMoModelOutputWithPast:
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        if position_ids is None:
            seen = past_key_values.get_seq_length() if past_key_values is not None else 0
            position_ids = (torch.arange(inputs_embeds.shape[1], device=inputs_embeds.device) + seen)[None]
        # masks before a fresh cache exists, so packed position_ids are detected even with use_cache
        masks = attention_mask if isinstance(attention_mask, dict) else self.build_attention_masks(
            inputs_embeds, attention_mask, past_key_values, position_ids)
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)

        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids)
        for i, layer in enumerate(self.layers[: self.config.num_hidden_layers]):
            hidden_states = layer(hidden_states, attention_mask=masks[self.config.layer_types[i]],
                                  position_embeddings=position_embeddings, position_ids=position_ids,
                                  past_key_values=past_key_values, use_cache=use_cache, **kwargs)
        return MiMoModelOutputWithPast(
            last_hidden_state=self.norm(hidden_states),
            past_key_values=past_key_values if use_cache else None,
            pre_norm_hidden_state=hidden_states,
            attention_masks=masks,
            position_embeddings=position_embeddings,
            position_ids=position_ids,
        )


class MiMoForCausalLM(MiMoPreTrainedModel, Qwen2ForCausalLM):
    """Causal LM with MTP losses. Plain ``forward``/``generate`` is exactly Qwen2's computation."""

    def __init__(self, config: MiMoConfig):
        MiMoPreTrainedModel.__init__(self, config)
        self.model = MiMoModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def mtp_layer_forward(self, layer: int, hidden_states: torch.Tensor, next_embeds: torch.Tensor,
                          position_embeddings: tuple[torch.Tensor, torch.Tensor],
                          attention_mask: torch.Tensor | None, position_ids: torch.Tensor | None,
                          **kwargs) -> torch.Tensor:
        """Run MTP layer ``layer``; returns its output before ``final_layernorm``."""
        return self.model.mtp_layers[layer](hidden_states, next_embeds, position_embeddings,
                                            attention_mask=attention_mask, position_ids=position_ids, **kwargs)

    def mtp_logits_from_hidden(self, layer: int, mtp_hidden: torch.Tensor) -> torch.Tensor:
        """``lm_head(final_layernorm_k(z))``: the shared head on MTP layer ``layer``'s output."""
        return self.lm_head(self.model.mtp_layers[layer].final_layernorm(mtp_hidden))

    def _run_mtp(self, out: MiMoModelOutputWithPast, input_ids: torch.Tensor | None,
                 inputs_embeds: torch.Tensor | None, **kwargs) -> list[torch.Tensor]:
        """All MTP layers over the sequence; returns each layer's pre-norm output."""
        embeds = inputs_embeds if inputs_embeds is not None else self.model.embed_tokens(input_ids)
        mask = out.attention_masks["full_attention"]
        main_h = out.pre_norm_hidden_state
        hidden, results = main_h, []
        for k in range(len(self.model.mtp_layers)):
            source = hidden if self.config.mtp_hidden_source == "previous" else main_h
            hidden = self.mtp_layer_forward(k, source, shift_left(embeds, k + 1), out.position_embeddings,
                                            mask, out.position_ids, **kwargs)
            results.append(hidden)
        return results

    @can_return_tuple
    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None, past_key_values: Cache | None = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.LongTensor | None = None,
                use_cache: bool | None = None, logits_to_keep: int | torch.Tensor = 0,
                mtp_loss_weight: float | None = None, output_mtp_logits: bool = False,
                **kwargs) -> MiMoCausalLMOutputWithPast:
        """Qwen2 forward; with ``labels`` also the MTP losses (λ = ``mtp_loss_weight`` or the config's;
        λ = 0 skips the MTP layers). Targets follow HF: ``labels`` aligned with ``input_ids``, -100
        ignored, shifted inside (by 1 for the main head, 2+k for MTP layer k), never across documents."""
        if labels is not None and use_cache is None:
            use_cache = False
        num_items = kwargs.pop("num_items_in_batch", None)
        out: MiMoModelOutputWithPast = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache, **kwargs)
        logits = self.lm_head(slice_logits_to_keep(out.last_hidden_state, logits_to_keep))

        weight = self.config.mtp_loss_weight if mtp_loss_weight is None else mtp_loss_weight
        run_mtp = len(self.model.mtp_layers) > 0 and (
            output_mtp_logits or (labels is not None and weight != 0))
        loss = main_loss = mtp_loss = mtp_losses = mtp_logits = None
        if labels is not None:
            if logits.shape[1] != labels.shape[1]:
                raise ValueError("labels need logits for every position (logits_to_keep=0)")
            main_loss = token_cross_entropy(logits, shifted_targets(labels, 1, out.position_ids), num_items)
            loss = main_loss
        if run_mtp:
            all_logits, losses = [], []
            for k, hidden in enumerate(self._run_mtp(out, input_ids, inputs_embeds, **kwargs)):
                layer_logits = self.mtp_logits_from_hidden(k, hidden)
                if labels is not None:
                    targets = shifted_targets(labels, k + 2, out.position_ids)
                    losses.append(token_cross_entropy(layer_logits, targets, num_items))
                if output_mtp_logits:
                    all_logits.append(layer_logits)
            mtp_logits = tuple(all_logits) if output_mtp_logits else None
            if losses:
                mtp_losses = tuple(losses)
                mtp_loss = torch.stack(losses).mean()
                loss = main_loss + weight * mtp_loss
        return MiMoCausalLMOutputWithPast(
            loss=loss, logits=logits, past_key_values=out.past_key_values,
            hidden_states=out.hidden_states, attentions=out.attentions,
            main_loss=main_loss, mtp_loss=mtp_loss, mtp_losses=mtp_losses, mtp_logits=mtp_logits,
            pre_norm_hidden_state=out.pre_norm_hidden_state,
        )


def _register() -> None:
    """Auto-class registration, and ``auto_map`` + code copy on ``save_pretrained`` (as released)."""
    AutoConfig.register(MiMoConfig.model_type, MiMoConfig, exist_ok=True)
    AutoModel.register(MiMoConfig, MiMoModel, exist_ok=True)
    AutoModelForCausalLM.register(MiMoConfig, MiMoForCausalLM, exist_ok=True)
    MiMoConfig.register_for_auto_class("AutoConfig")
    MiMoModel.register_for_auto_class("AutoModel")
    MiMoForCausalLM.register_for_auto_class("AutoModelForCausalLM")


if not __name__.startswith("transformers_modules"):  # not when loaded as a checkpoint's remote code
    _register()

__all__ = [
    "MiMoCausalLMOutputWithPast",
    "MiMoForCausalLM",
    "MiMoMTPLayer",
    "MiMoModel",
    "MiMoModelOutputWithPast",
    "MiMoPreTrainedModel",
    "document_ids",
    "packed_causal_mask",
    "shifted_targets",
    "token_cross_entropy",
]
