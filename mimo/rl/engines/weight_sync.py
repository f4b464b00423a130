"""Weight sync: the policy's new weights from trainer rank 0 to every rollout engine after each update.

A process group of its own (trainer rank 0 = rank 0, engine k = rank k + 1) over a ``TCPStore`` that
rank 0 hosts: gloo on CPU, NCCL on GPU. A sync is two-phase so that a mismatch never leaves anyone
waiting in a collective: every engine first checks the sender's *spec* (names, shapes, dtypes)
against its own model and answers; only when all agree are the tensors broadcast, one flat bucket
per dtype, and copied into the engine's parameters between two decode steps. The group is rebuilt
(a new store port) when the set of live engines changes.
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch

Spec = list[tuple[str, tuple[int, ...], str]]  # (name, shape, dtype)


class WeightSyncError(RuntimeError):
    """A weight sync that could not be done (mismatch, engine gone); names the component."""


def spec_of(weights: dict[str, torch.Tensor]) -> Spec:
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in sorted(weights.items())]


def check_spec(spec: Spec, target: dict[str, torch.Tensor]) -> str | None:
    """Why ``spec`` cannot be loaded into ``target`` (names, shapes, dtypes), or ``None``."""
    mine = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in target.items()}
    missing = [k for k, _, _ in spec if k not in mine]
    if missing:
        return f"{len(missing)} unknown tensor(s), e.g. {missing[0]!r}"
    for name, shape, dtype in spec:
        if mine[name][0] != tuple(shape):
            return f"{name}: shape {tuple(shape)} sent, the engine holds {mine[name][0]}"
        if mine[name][1] != dtype:
            return f"{name}: dtype {dtype} sent, the engine holds {mine[name][1]}"
    sent = {k for k, _, _ in spec}
    if unsent := [k for k in mine if k not in sent]:
        return f"{len(unsent)} tensor(s) of the engine not sent, e.g. {unsent[0]!r}"
    return None


def _buckets(spec: Spec) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    by_dtype: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for name, shape, dtype in spec:
        by_dtype.setdefault(dtype, []).append((name, tuple(shape)))
    return by_dtype


def _numel(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


@dataclass
class GroupAddress:
    """Where the sync group's store listens and this member's place in it."""

    host: str
    port: int
    world: int
    rank: int
    backend: str = "gloo"
    timeout_s: float = 300.0


def free_port(host: str = "") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class SyncGroup:
    """The process group and the store it lives on (kept alive together)."""

    group: Any
    store: Any

    def broadcast(self, tensor: torch.Tensor) -> None:
        self.group.broadcast(tensor, 0).wait()


def open_group(addr: GroupAddress) -> SyncGroup:
    """Join the sync group (blocks until every member joined). Rank 0 hosts the store."""
    import torch.distributed as dist

    timeout = datetime.timedelta(seconds=addr.timeout_s)
    store = dist.TCPStore(addr.host, addr.port, addr.world, is_master=addr.rank == 0, timeout=timeout,
                          wait_for_workers=False)
    if addr.backend == "nccl":
        group = dist.ProcessGroupNCCL(store, addr.rank, addr.world)
    else:
        group = dist.ProcessGroupGloo(store, addr.rank, addr.world, timeout)
    return SyncGroup(group, store)


def send_weights(group: SyncGroup, weights: dict[str, torch.Tensor], device: str = "cpu") -> int:
    """Rank 0's side of a broadcast; returns the bytes sent."""
    sent = 0
    for entries in _buckets(spec_of(weights)).values():
        flat = torch.cat([weights[name].detach().reshape(-1).to(device) for name, _ in entries])
        group.broadcast(flat)
        sent += flat.numel() * flat.element_size()
    return sent


def receive_weights(group: SyncGroup, spec: Spec, device: str = "cpu") -> dict[str, torch.Tensor]:
    """An engine's side of a broadcast: the tensors of ``spec``."""
    out: dict[str, torch.Tensor] = {}
    for dtype, entries in _buckets(spec).items():
        flat = torch.empty(sum(_numel(s) for _, s in entries), dtype=getattr(torch, dtype), device=device)
        group.broadcast(flat)
        at = 0
        for name, shape in entries:
            n = _numel(shape)
            out[name] = flat[at:at + n].view(shape)
            at += n
    return out
