"""One GRPO iteration on scored rollout groups: old log-probs, group advantages, mini-batch updates.

Input: :class:`RolloutGroup` s (prompt ids, the sampled completion ids of G rollouts, their rewards;
``None`` reward = a masked sample, e.g. a reward worker that failed). The policy's log-probs at
rollout time are the "old" log-probs (on-policy: computed once, before the first update); the batch
is split into ``batch_prompts / mini_batch_prompts`` optimizer updates (MiMo: 512 / 32 = 16), each
accumulated over micro-batches with the mini-batch's token count as the shared normalizer, so the
token-level loss weighs every completion token of the mini-batch equally. The MTP layers are frozen.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import torch

from mimo.rl.grpo.config import GRPOConfig
from mimo.rl.grpo.loss import group_advantages, grpo_loss, token_entropy


@dataclass
class RolloutGroup:
    """G rollouts of one prompt."""

    problem_id: str
    prompt_ids: list[int]
    completions: list[list[int]]
    rewards: list[float | None]


@dataclass
class _Sample:
    ids: list[int]
    prompt_len: int
    advantage: float
    group: int


def trainable_policy_parameters(model: Any, freeze_mtp: bool = True) -> list[torch.nn.Parameter]:
    """Parameters RL updates (MiMo freezes the MTP layers in RL)."""
    if freeze_mtp:
        for p in getattr(model.model, "mtp_layers", torch.nn.ModuleList()).parameters():
            p.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def flatten_groups(groups: list[RolloutGroup], cfg: GRPOConfig) -> tuple[list[_Sample], int]:
    """Samples with their advantages (masked samples dropped; advantages over the group's scored
    samples) and the number of masked samples. Masked: no reward, an empty completion, or one longer
    than ``max_completion_length`` (a backend that ignored the cap: never trained on, counted)."""
    samples, masked = [], 0
    for gi, g in enumerate(groups):
        scored = [(c, r) for c, r in zip(g.completions, g.rewards)
                  if r is not None and c and len(c) <= cfg.max_completion_length]
        masked += len(g.completions) - len(scored)
        if len(scored) < 2:
            masked += len(scored)
            continue
        adv = group_advantages(torch.tensor([r for _, r in scored]), len(scored), cfg.scale_rewards)
        for (c, _), a in zip(scored, adv.tolist()):
            samples.append(_Sample(list(g.prompt_ids) + list(c), len(g.prompt_ids), a, gi))
    return samples, masked


def _pad(samples: list[_Sample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask, completion mask (1 on completion tokens)."""
    width = max(len(s.ids) for s in samples)
    ids = torch.full((len(samples), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(samples), width), dtype=torch.long)
    comp = torch.zeros((len(samples), width), dtype=torch.float32)
    for i, s in enumerate(samples):
        ids[i, :len(s.ids)] = torch.tensor(s.ids)
        attn[i, :len(s.ids)] = 1
        comp[i, s.prompt_len:len(s.ids)] = 1
    return ids, attn, comp


def token_logps(model: Any, ids: torch.Tensor, attn: torch.Tensor, with_logits: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log p(token t | tokens < t) for t >= 1, placed at position t (position 0 gets 0)."""
    logits = model(input_ids=ids, attention_mask=attn, use_cache=False).logits.float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    logp = torch.cat([torch.zeros_like(logp[:, :1]), logp], dim=1)
    return logp, (logits if with_logits else None)


class GRPOTrainer:
    """The policy, its optimizer and the GRPO update."""

    def __init__(self, model: Any, cfg: GRPOConfig, pad_id: int):
        self.model, self.cfg, self.pad_id = model, cfg, pad_id
        self.params = trainable_policy_parameters(model, cfg.freeze_mtp)
        self.opt = torch.optim.AdamW(self.params, lr=cfg.learning_rate, betas=(0.9, 0.999),
                                     weight_decay=cfg.weight_decay)
        self.rng = random.Random(cfg.seed)
        self.updates_applied = 0  # optimizer updates of the current (or failed) step

    def step(self, groups: list[RolloutGroup], inject_nan: bool = False) -> dict[str, float]:
        """One iteration: old log-probs, then the mini-batch updates; returns the step's metrics.
        ``inject_nan`` (test hook) makes the first micro-batch's loss NaN."""
        cfg = self.cfg
        self.updates_applied = 0
        samples, masked = flatten_groups(groups, cfg)
        rewards = [r for g in groups for r in g.rewards if r is not None]
        lengths = [len(c) for g in groups for c in g.completions]
        metrics: dict[str, float] = {
            "groups": len(groups), "samples": len(samples), "masked_samples": masked,
            "reward_mean": sum(rewards) / max(len(rewards), 1),
            "pass_rate": sum(r >= 1.0 for r in rewards) / max(len(rewards), 1),
            "response_length_mean": sum(lengths) / max(len(lengths), 1),
            "response_length_max": max(lengths, default=0),
        }
        if not samples:
            raise ValueError("no trainable sample in this batch (every group masked or too small)")
        self.model.eval()  # no dropout: rollout-time and update-time log-probs agree
        old = []
        with torch.no_grad():
            for lo in range(0, len(samples), cfg.micro_batch_samples):
                chunk = samples[lo:lo + cfg.micro_batch_samples]
                ids, attn, _ = _pad(chunk, self.pad_id)
                lp, _ = token_logps(self.model, ids, attn)
                old.extend(lp[i, :len(s.ids)] for i, s in enumerate(chunk))
        n_groups = len(groups)
        per_update = max(1, math.ceil(n_groups * cfg.mini_batch_prompts / cfg.batch_prompts))
        order = list(range(n_groups))
        self.rng.shuffle(order)
        stats: dict[str, list[float]] = {"loss": [], "clip_fraction_low": [], "clip_fraction_high": [],
                                         "grad_norm": [], "entropy": [], "mean_ratio": []}
        for start in range(0, n_groups, per_update):
            chosen = set(order[start:start + per_update])
            idx = [i for i, s in enumerate(samples) if s.group in chosen]
            if not idx:
                continue
            total = float(sum(len(samples[i].ids) - samples[i].prompt_len for i in idx))
            self.opt.zero_grad(set_to_none=True)
            loss_sum = 0.0
            for lo in range(0, len(idx), cfg.micro_batch_samples):
                part = idx[lo:lo + cfg.micro_batch_samples]
                chunk = [samples[i] for i in part]
                ids, attn, comp = _pad(chunk, self.pad_id)
                lp, logits = token_logps(self.model, ids, attn, with_logits=True)
                old_lp = torch.zeros_like(lp)
                for row, i in enumerate(part):
                    old_lp[row, :len(samples[i].ids)] = old[i]
                out = grpo_loss(lp, old_lp, torch.tensor([s.advantage for s in chunk]), comp,
                                epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high, loss_type=cfg.loss_type,
                                beta=cfg.beta, max_completion_length=cfg.max_completion_length,
                                normalizer=total if cfg.loss_type == "token" else None)
                scale = 1.0 if cfg.loss_type == "token" else len(part) / len(idx)
                if inject_nan:
                    scale, inject_nan = scale * float("nan"), False
                (out.loss * scale).backward()
                loss_sum += float(out.loss.detach()) * scale
                stats["clip_fraction_low"].append(out.clip_fraction_low)
                stats["clip_fraction_high"].append(out.clip_fraction_high)
                stats["mean_ratio"].append(out.mean_ratio)
                shifted = torch.cat([comp[:, 1:], torch.zeros_like(comp[:, :1])], dim=1)  # logits at t-1 predict t
                stats["entropy"].append(token_entropy(logits, shifted))
            norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
            if not math.isfinite(norm) or not math.isfinite(loss_sum):
                raise FloatingPointError(f"non-finite GRPO loss/grad (loss {loss_sum}, grad norm {norm}); "
                                         "the update was skipped, resume from the last checkpoint")
            self.opt.step()
            self.updates_applied += 1
            stats["loss"].append(loss_sum)
            stats["grad_norm"].append(norm)
        for k, v in stats.items():
            metrics[k] = sum(v) / max(len(v), 1)
        metrics["updates"] = len(stats["loss"])
        return metrics
