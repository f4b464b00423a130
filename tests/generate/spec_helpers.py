"""Tiny MiMo models for the speculative-decoding tests, and a chi-square check without scipy."""

from __future__ import annotations

import math

import torch

from mimo.model.presets import TINY, create_model


def tiny_mimo(vocab: int = 64, mtp_layers: int = 3, layers: int = 2, sharpen: float = 30.0, seed: int = 0,
              hidden_source: str = "previous"):
    """A random MiMo model (hidden 32, 4/2 heads) with ``mtp_layers`` independent random MTP layers;
    ``lm_head`` scaled by ``sharpen`` so logits are far from ties (greedy is numerically stable)."""
    preset = TINY.model_copy(update={"vocab_size": vocab, "hidden_size": 32, "intermediate_size": 64,
                                     "num_hidden_layers": layers, "head_dim": 8})
    model = create_model(preset, seed=seed, num_nextn_predict_layers=mtp_layers,
                         mtp_hidden_source=hidden_source).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(sharpen)
    return model


def copy_draft_model(vocab: int = 48, mtp_layers: int = 3, attention: float = 0.0, input_noise: float = 0.0,
                     sharpen: float = 30.0, seed: int = 0):
    """A one-layer model whose MTP layers compute exactly what the body computes on the fed token.

    With ``attention=0`` the body's attention output is zeroed, so the main model is a bigram model
    ``next = f(last token)``; every MTP layer ignores its hidden input (``input_proj = [0 | I]``) and
    applies the same block to its token embedding (rows of RMS 1, token norm undoing the RMS norm), so
    its draft equals the main model's prediction: 100% acceptance. ``attention > 0`` keeps (scaled)
    attention in both and ``input_noise`` mixes in the hidden input: drafts then agree only partly.
    """
    model = tiny_mimo(vocab, mtp_layers, layers=1, sharpen=sharpen, seed=seed)
    d, eps = model.config.hidden_size, model.config.rms_norm_eps
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb.div_(emb.pow(2).mean(-1, keepdim=True).sqrt())
        body = model.model.layers[0]
        body.self_attn.o_proj.weight.mul_(attention)
        for layer in model.model.mtp_layers:
            layer.token_layernorm.weight.fill_(math.sqrt(1 + eps))
            proj = torch.zeros(d, 2 * d)
            proj[:, d:] = torch.eye(d)
            proj[:, :d] = input_noise * torch.randn(d, d, generator=gen) / math.sqrt(d)
            layer.input_proj.weight.copy_(proj)
            for name in ("input_layernorm", "self_attn", "post_attention_layernorm", "mlp"):
                getattr(layer, name).load_state_dict(getattr(body, name).state_dict())
            layer.final_layernorm.load_state_dict(model.model.norm.state_dict())
    return model


def chi_square_ok(counts: dict, probs: dict, alpha_z: float = 3.719) -> tuple[bool, float, float]:
    """Pearson chi-square of observed ``counts`` against ``probs`` (outcome -> probability); cells
    with expected count < 5 are pooled. Returns (passes at about p = 1e-4, statistic, critical value
    from the Wilson-Hilferty approximation)."""
    n = sum(counts.values())
    cells, pooled_obs, pooled_exp = [], 0.0, 0.0
    for outcome, p in probs.items():
        exp, obs = n * p, counts.get(outcome, 0)
        if exp < 5:
            pooled_obs, pooled_exp = pooled_obs + obs, pooled_exp + exp
        else:
            cells.append((obs, exp))
    extra = sum(c for o, c in counts.items() if o not in probs)  # outcomes of probability 0
    if pooled_exp > 0:
        cells.append((pooled_obs + extra, pooled_exp))
    elif extra:
        return False, math.inf, 0.0
    stat = sum((o - e) ** 2 / e for o, e in cells)
    df = max(len(cells) - 1, 1)
    crit = df * (1 - 2 / (9 * df) + alpha_z * math.sqrt(2 / (9 * df))) ** 3
    return stat < crit, stat, crit


def total_variation(a: dict, b: dict) -> float:
    """Total-variation distance of two distributions given as outcome -> probability."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))
