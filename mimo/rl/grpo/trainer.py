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
from mimo.rl.grpo.ranks import TrainerRanks


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
    """The policy, its optimizer and the GRPO update, on one rank or sharded over several
    (:class:`~mimo.rl.grpo.ranks.TrainerRanks`): each rank takes its share of every mini-batch, the
    loss normalizer and sequence count are all-reduced, so the update does not depend on the rank count."""

    def __init__(self, model: Any, cfg: GRPOConfig, pad_id: int, ranks: TrainerRanks | None = None,
                 bf16: bool = False):
        self.cfg, self.pad_id = cfg, pad_id
        self.ranks = ranks or TrainerRanks()
        trainable_policy_parameters(model, cfg.freeze_mtp)
        self.model = self.ranks.shard(model, bf16=bf16)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=cfg.learning_rate, betas=(0.9, 0.999),
                                     weight_decay=cfg.weight_decay)
        self.rng = random.Random(cfg.seed)
        self.updates_applied = 0  # optimizer updates of the current (or failed) step

    def _device_batch(self, chunk: list[_Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(t.to(self.ranks.ctx.device) for t in _pad(chunk, self.pad_id))  # type: ignore[return-value]

    def _micro_batches(self, idx: list[int]) -> list[list[int]]:
        """This rank's micro-batches of ``idx``; every rank runs the same number (FSDP's collectives),
        a rank with fewer samples runs empty ones (a zero-weight pass)."""
        mine = self.ranks.share(idx)
        parts = [mine[lo:lo + self.cfg.micro_batch_samples] for lo in range(0, len(mine), self.cfg.micro_batch_samples)]
        return parts + [[] for _ in range(self.ranks.max(len(parts)) - len(parts))]

    def _blank_pass(self, grad: bool) -> None:
        ids = torch.full((1, 2), self.pad_id, dtype=torch.long, device=self.ranks.ctx.device)
        with torch.set_grad_enabled(grad):
            logits = self.model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).logits
            if grad:
                (logits.float().sum() * 0.0).backward()

    def _old_logps(self, samples: list[_Sample], batches: list[list[int]]) -> dict[int, torch.Tensor]:
        """Rollout-time log-probs of this rank's samples (computed once, before the first update)."""
        old: dict[int, torch.Tensor] = {}
        with torch.no_grad():
            for idx in batches:
                for part in self._micro_batches(idx):
                    if not part:
                        self._blank_pass(grad=False)
                        continue
                    ids, attn, _ = self._device_batch([samples[i] for i in part])
                    lp, _ = token_logps(self.model, ids, attn)
                    old.update({i: lp[r, :len(samples[i].ids)] for r, i in enumerate(part)})
        return old

    def step(self, groups: list[RolloutGroup], inject_nan: bool = False) -> dict[str, float]:
        """One iteration: old log-probs, then the mini-batch updates; returns the step's metrics.
        Every rank passes the same ``groups``. ``inject_nan`` (test hook) makes the first micro-batch's
        loss NaN."""
        cfg = self.cfg
        self.updates_applied = 0
        samples, masked = flatten_groups(groups, cfg)
        metrics = _batch_metrics(groups, samples, masked)
        if not samples:
            raise ValueError("no trainable sample in this batch (every group masked or too small)")
        self.model.eval()  # no dropout: rollout-time and update-time log-probs agree
        n_groups = len(groups)
        per_update = max(1, math.ceil(n_groups * cfg.mini_batch_prompts / cfg.batch_prompts))
        order = list(range(n_groups))
        self.rng.shuffle(order)
        batches = []
        for start in range(0, n_groups, per_update):
            chosen = set(order[start:start + per_update])
            if idx := [i for i, s in enumerate(samples) if s.group in chosen]:
                batches.append(idx)
        old = self._old_logps(samples, batches)
        stats: dict[str, list[float]] = {k: [] for k in ("loss", "clip_fraction_low", "clip_fraction_high",
                                                         "grad_norm", "entropy", "mean_ratio")}
        for idx in batches:
            inject_nan = self._update(samples, idx, old, stats, inject_nan)
        for k, v in stats.items():
            metrics[k] = sum(v) / max(len(v), 1)
        if self.ranks.world > 1:  # per-rank averages -> the mean over ranks
            keys = [k for k in stats if k not in ("loss", "grad_norm")]
            for k, v in zip(keys, self.ranks.sum(*(metrics[k] for k in keys))):
                metrics[k] = v / self.ranks.world
        metrics["updates"] = len(stats["loss"])
        return metrics

    def _update(self, samples: list[_Sample], idx: list[int], old: dict[int, torch.Tensor],
                stats: dict[str, list[float]], inject_nan: bool) -> bool:
        """One optimizer update on the mini-batch ``idx`` (this rank's share of it); returns whether
        the NaN test hook is still pending."""
        cfg = self.cfg
        total = float(sum(len(samples[i].ids) - samples[i].prompt_len for i in idx))  # every rank's tokens
        world = self.ranks.world  # FSDP averages gradients over ranks; the losses here are global sums
        self.opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for part in self._micro_batches(idx):
            if not part:
                self._blank_pass(grad=True)
                continue
            chunk = [samples[i] for i in part]
            ids, attn, comp = self._device_batch(chunk)
            lp, logits = token_logps(self.model, ids, attn, with_logits=True)
            old_lp = torch.zeros_like(lp)
            for row, i in enumerate(part):
                old_lp[row, :len(samples[i].ids)] = old[i]
            out = grpo_loss(lp, old_lp, torch.tensor([s.advantage for s in chunk], device=lp.device), comp,
                            epsilon=cfg.epsilon, epsilon_high=cfg.epsilon_high, loss_type=cfg.loss_type,
                            beta=cfg.beta, max_completion_length=cfg.max_completion_length,
                            normalizer=total if cfg.loss_type == "token" else None)
            scale = 1.0 if cfg.loss_type == "token" else len(part) / len(idx)
            if inject_nan:
                scale, inject_nan = scale * float("nan"), False
            (out.loss * scale * world).backward()
            loss_sum += float(out.loss.detach()) * scale
            stats["clip_fraction_low"].append(out.clip_fraction_low)
            stats["clip_fraction_high"].append(out.clip_fraction_high)
            stats["mean_ratio"].append(out.mean_ratio)
            shifted = torch.cat([comp[:, 1:], torch.zeros_like(comp[:, :1])], dim=1)  # logits at t-1 predict t
            stats["entropy"].append(token_entropy(logits, shifted))
        norm = _as_float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
        loss_sum = self.ranks.sum(loss_sum)[0]
        if not math.isfinite(norm) or not math.isfinite(loss_sum):
            raise FloatingPointError(f"non-finite GRPO loss/grad (loss {loss_sum}, grad norm {norm}); "
                                     "the update was skipped, resume from the last checkpoint")
        self.opt.step()
        self.updates_applied += 1
        stats["loss"].append(loss_sum)
        stats["grad_norm"].append(norm)
        return inject_nan


def _as_float(norm: Any) -> float:
    """A gradient norm as a float (FSDP2 returns a DTensor holding the global norm)."""
    full = getattr(norm, "full_tensor", None)
    return float(full() if full is not None else norm)


def _batch_metrics(groups: list[RolloutGroup], samples: list[_Sample], masked: int) -> dict[str, float]:
    rewards = [r for g in groups for r in g.rewards if r is not None]
    lengths = [len(c) for g in groups for c in g.completions]
    return {
        "groups": len(groups), "samples": len(samples), "masked_samples": masked,
        "reward_mean": sum(rewards) / max(len(rewards), 1),
        "pass_rate": sum(r >= 1.0 for r in rewards) / max(len(rewards), 1),
        "response_length_mean": sum(lengths) / max(len(lengths), 1),
        "response_length_max": max(lengths, default=0),
    }
