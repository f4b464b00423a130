"""The rollout side of the RL loop (trainer rank 0): the generator the seamless engine drives, and how
new weights reach it after an update.

* ``engines``: a pool of engine processes (:mod:`mimo.rl.engines`), weights pushed over the sync
  group after every update; the topology of the cluster profiles, one engine by default here.
* ``inflight`` / ``batch``: the trainer's own model object in this process (weights shared in place).
* ``vllm``: vLLM's engine in this process, weights pushed through ``collective_rpc``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimo.generate.base import SamplingParams


def policy_weights(state: dict[str, Any]) -> dict[str, Any]:
    """The weights a separate rollout engine needs after an update (the MTP layers are frozen in RL)."""
    return {k: v for k, v in state.items() if ".mtp_layers." not in k}


@dataclass
class RolloutSide:
    """A generator, whether it needs weight pushes, and how to close it."""

    generator: Any
    pushes_weights: bool = False
    stats: Callable[[], dict[str, Any]] = field(default=dict)

    def push(self, weights: dict[str, Any]) -> dict[str, Any]:
        """Send the updated policy to the generator; its timing metrics."""
        t0 = time.perf_counter()
        if hasattr(self.generator, "sync_weights"):
            return self.generator.sync_weights(policy_weights(weights))
        self.generator.update_weights(policy_weights(weights))
        return {"weight_sync_seconds": round(time.perf_counter() - t0, 4)}

    def hold(self) -> Any:
        """Held during an update: a generator sharing the policy must not decode meanwhile."""
        return getattr(self.generator, "paused", contextlib.nullcontext)()

    def close(self) -> None:
        self.generator.close()


def open_rollout_side(cfg: Any, model: Any, tokenizer: Any, sampling: SamplingParams,
                      report: Callable[[str, dict[str, Any]], None]) -> RolloutSide:
    """The rollout side ``cfg.rollout_backend`` asks for (``cfg``: an ``RLTrainConfig``)."""
    slots = cfg.grpo.num_generations * cfg.generation_batch_groups
    if cfg.rollout_backend == "engines":
        from mimo.rl.engines import open_pool

        e = cfg.engines
        rendezvous = Path(e.rendezvous_dir or (os.environ.get("MIMO_COMPANION_DIR") if e.launch == "external" else None)
                          or Path(cfg.out_dir) / "engines")
        pool = open_pool(cfg.init_from, tokenizer, e, sampling, e.max_sequences or slots, rendezvous,
                         report=lambda message: report("warning", {"message": message}))
        report("log", {"message": f"{cfg.stage}: {e.count} rollout engine(s) ({e.launch}, {e.backend}), "
                                  f"{pool.max_sequences} sequence slots"})
        return RolloutSide(pool, pushes_weights=True, stats=pool.stats)
    if cfg.rollout_backend == "inflight":  # shares the policy: weights reach it in place after each update
        from mimo.generate.inflight_backend import InflightTransformersGenerator

        return RolloutSide(InflightTransformersGenerator(cfg.init_from, model_obj=model, tokenizer_obj=tokenizer,
                                                         sampling=sampling, max_sequences=slots))
    if cfg.rollout_backend == "vllm":  # its own copy of the weights: synced after every update
        from mimo.generate.vllm_streaming import VLLMStreamingGenerator

        return RolloutSide(VLLMStreamingGenerator(cfg.init_from, max_sequences=slots, **cfg.vllm), pushes_weights=True)
    from mimo.generate.transformers_backend import TransformersGenerator

    return RolloutSide(TransformersGenerator(cfg.init_from, model_obj=model, tokenizer_obj=tokenizer, batch_size=slots))
