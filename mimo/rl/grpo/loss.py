"""The GRPO objective with MiMo's changes (token-level normalization, no KL, Clip-Higher).

Names follow TRL/verl where they match: ``epsilon`` / ``epsilon_high`` (lower and upper clip range of
the importance ratio), ``beta`` (KL coefficient; 0 = no reference model, MiMo's choice) and
``loss_type``:

* ``"token"``: every completion token of the (mini-)batch counts equally: sum of per-token losses /
  number of completion tokens (DAPO's / MiMo's token-level loss; TRL ``"dapo"``/``"bnpo"``);
* ``"grpo"``: mean over each sequence's tokens, then mean over sequences (the original GRPO);
* ``"dr_grpo"``: sum over tokens / (sequences × ``max_completion_length``) (Dr. GRPO).

Per token t of sample i: ``r = exp(logp - old_logp)``,
``loss = -min(r·A_i, clip(r, 1-epsilon, 1+epsilon_high)·A_i) + beta·KL``, where ``KL`` is the k3
estimator ``exp(ref - logp) - (ref - logp) - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

LossType = Literal["token", "grpo", "dr_grpo"]


def group_advantages(rewards: torch.Tensor, num_generations: int, scale_rewards: bool = True,
                     eps: float = 1e-6) -> torch.Tensor:
    """Advantages from rewards laid out group after group (``[n_groups * G]``): reward minus the
    group mean, divided by the group std (unbiased=False) when ``scale_rewards``. A group whose
    rewards are all equal gets advantage 0 for every sample."""
    if rewards.ndim != 1 or rewards.numel() % num_generations:
        raise ValueError(f"rewards must be 1-D with a multiple of num_generations={num_generations} entries")
    grouped = rewards.float().view(-1, num_generations)
    centered = grouped - grouped.mean(dim=1, keepdim=True)
    if scale_rewards:
        centered = centered / (grouped.std(dim=1, unbiased=False, keepdim=True) + eps)
    return centered.view(-1)


@dataclass
class LossOutput:
    """The loss and the statistics the trainer logs."""

    loss: torch.Tensor
    clip_fraction_low: float  # tokens whose ratio was clipped below (negative advantage)
    clip_fraction_high: float  # tokens whose ratio was clipped above (positive advantage)
    mean_ratio: float
    kl: float | None
    tokens: int


def grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, *,
              epsilon: float = 0.2, epsilon_high: float | None = 0.28, loss_type: LossType = "token",
              beta: float = 0.0, ref_logp: torch.Tensor | None = None, max_completion_length: int | None = None,
              normalizer: float | None = None) -> LossOutput:
    """GRPO loss over completion tokens.

    ``logp``, ``old_logp``, ``ref_logp`` and ``mask`` are ``[batch, T]`` (mask: 1 on completion
    tokens that count); ``advantages`` is ``[batch]``. ``normalizer`` overrides the token count of
    ``"token"`` (the whole accumulated batch's tokens when a step is split into micro-batches, so the
    sum of micro-batch losses equals the full-batch loss).
    """
    if epsilon_high is None:
        epsilon_high = epsilon
    if beta > 0 and ref_logp is None:
        raise ValueError("beta > 0 needs ref_logp (a reference model); MiMo uses beta = 0")
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    ratio = torch.exp(logp - old_logp)
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon_high)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    kl_mean = None
    if beta > 0:
        delta = ref_logp - logp
        kl = torch.exp(delta) - delta - 1.0
        per_token = per_token + beta * kl
        kl_mean = float((kl * mask).sum() / mask.sum().clamp(min=1))
    tokens = int(mask.sum())
    if loss_type == "token":
        loss = (per_token * mask).sum() / (normalizer if normalizer is not None else mask.sum().clamp(min=1))
    elif loss_type == "grpo":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
    elif loss_type == "dr_grpo":
        if not max_completion_length:
            raise ValueError("loss_type 'dr_grpo' needs max_completion_length")
        loss = (per_token * mask).sum() / (logp.shape[0] * max_completion_length)
    else:
        raise ValueError(f"unknown loss_type {loss_type!r} (token, grpo, dr_grpo)")
    with torch.no_grad():
        n = mask.sum().clamp(min=1)
        low = ((ratio < 1.0 - epsilon) & (adv < 0)).to(mask.dtype) * mask
        high = ((ratio > 1.0 + epsilon_high) & (adv > 0)).to(mask.dtype) * mask
        stats = (float(low.sum() / n), float(high.sum() / n), float((ratio * mask).sum() / n))
    return LossOutput(loss, stats[0], stats[1], stats[2], kl_mean, tokens)


def token_entropy(logits: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean entropy of the next-token distribution over masked positions (``logits`` ``[B, T, V]``)."""
    with torch.no_grad():
        logp = torch.log_softmax(logits.float(), dim=-1)
        ent = -(logp.exp() * logp).sum(-1)
        m = mask.to(ent.dtype)
        return float((ent * m).sum() / m.sum().clamp(min=1))
