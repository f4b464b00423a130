"""Trainer ranks: the GRPO policy sharded with FSDP2 over torchrun's ranks (gloo on CPU, NCCL on GPU).

One rank (the default here) is the plain model and plain ``torch.optim.AdamW``, exactly as before.
With ``WORLD_SIZE > 1`` every decoder layer and the root are ``fully_shard``-ed (parameters, gradients
and AdamW state split over the ranks; bf16 compute with fp32 reductions on GPU). Rank 0 owns the
rollout side (engine pool, rewards, problem sampler) and broadcasts each step's scored groups; each
rank then trains on its share of every mini-batch, and the token-level normalizer and the sequence
count are all-reduced, so N ranks take the same update as one rank on the same samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from mimo.train.distributed import DistContext


@dataclass
class TrainerRanks:
    """Collectives the GRPO trainer needs; every method is a no-op on one rank."""

    ctx: DistContext = field(default_factory=DistContext)

    @property
    def world(self) -> int:
        return self.ctx.world_size

    @property
    def rank(self) -> int:
        return self.ctx.rank

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def share(self, items: list[int]) -> list[int]:
        """This rank's share of ``items`` (round robin, so shares differ in size by at most one)."""
        return items[self.rank::self.world]

    def shard(self, model: Any, bf16: bool = False) -> Any:
        """``fully_shard`` each decoder layer, the MTP layers and the root (FSDP2) on more than one rank."""
        if not self.ctx.enabled:
            return model
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
        kw = {"mp_policy": mp} if mp is not None else {}
        for layer in model.model.layers:
            fully_shard(layer, **kw)
        for layer in getattr(model.model, "mtp_layers", []):
            fully_shard(layer, **kw)
        fully_shard(model, **kw)
        return model

    def sum(self, *values: float) -> list[float]:
        """Element-wise sums over the ranks."""
        if not self.ctx.enabled:
            return list(values)
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self._device())
        dist.all_reduce(t)
        return t.cpu().tolist()

    def max(self, value: int) -> int:
        if not self.ctx.enabled:
            return value
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.int64, device=self._device())
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank (pickled)."""
        if not self.ctx.enabled:
            return obj
        import torch.distributed as dist

        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=torch.device(self._device()))
        return box[0]

    def full_state_dict(self, model: Any) -> dict[str, torch.Tensor]:
        """Collective: the whole model's weights on CPU at rank 0 (``{}`` elsewhere)."""
        if not self.ctx.enabled:
            return {k: v.detach() for k, v in model.state_dict().items()}
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))

    def optimizer_state(self, model: Any, opt: torch.optim.Optimizer) -> dict[str, Any]:
        """Collective: the optimizer state, whole and keyed by parameter name on rank 0 when sharded."""
        if not self.ctx.enabled:
            return opt.state_dict()
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_optimizer_state_dict,
        )

        return {"fsdp_full": get_optimizer_state_dict(
            model, opt, options=StateDictOptions(full_state_dict=True, cpu_offload=True))}

    def load_optimizer_state(self, model: Any, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        """Inverse of :meth:`optimizer_state` (every rank reads the whole state and keeps its shard);
        a checkpoint written by one rank and resumed on several, or the reverse, is a clear error."""
        sharded = "fsdp_full" in state
        if sharded != self.ctx.enabled:
            raise ValueError(f"the checkpoint's optimizer state was written by {'several ranks' if sharded else 'one rank'}"
                             f"; this run has {self.world}: resume with the same number of trainer ranks")
        if not sharded:
            opt.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_optimizer_state_dict,
        )

        set_optimizer_state_dict(model, opt, optim_state_dict=state["fsdp_full"],
                                 options=StateDictOptions(full_state_dict=True))

    def _device(self) -> str:
        return self.ctx.device


class FullModel:
    """``save_pretrained`` of a sharded model with its gathered weights (what checkpoints call)."""

    def __init__(self, model: Any, state_dict: dict[str, torch.Tensor]):
        self.model, self.state_dict = model, state_dict

    def save_pretrained(self, path: Any, **kwargs: Any) -> None:
        self.model.save_pretrained(path, state_dict=self.state_dict, **kwargs)
