"""Data-parallel plumbing: one process (default) or torch DDP under torchrun (gloo on CPU, NCCL on GPU).

Every rank reads the same global micro-batch from the packed data (same seed, same position) and
keeps its own slice, so the data-reader state is identical on all ranks and a resume continues the
same sequence of rows. Only rank 0 writes checkpoints and reports metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class DistContext:
    """Rank, world size and device of this process."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistContext:
    """Join the torchrun process group when ``WORLD_SIZE > 1``; otherwise a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device="cuda" if torch.cuda.is_available() else "cpu")
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    else:
        device, backend = "cpu", "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), local, device)


def wrap_model(model: Any, ctx: DistContext) -> Any:
    """DDP around the model on more than one rank (unused parameters allowed: MTP layers may sit out)."""
    if not ctx.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=None if ctx.device == "cpu" else [ctx.local_rank],
                                   find_unused_parameters=True)


def mean_across_ranks(value: float, ctx: DistContext) -> float:
    """The mean of a scalar over all ranks (the value itself on one rank)."""
    if not ctx.enabled:
        return value
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=ctx.device if ctx.device != "cpu" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / ctx.world_size


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    if ctx.enabled:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
