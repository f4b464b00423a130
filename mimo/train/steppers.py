"""How one optimizer step is taken: plain torch (one process or DDP) or DeepSpeed ZeRO.

The training loop owns data, schedules and checkpoint layout; a stepper owns forward/backward,
gradient accumulation, clipping, the optimizer and the optimizer's part of a checkpoint:

* :class:`TorchStepper`: ``torch.optim.AdamW`` + ``clip_grad_norm_``, DDP ``no_sync`` between
  micro-batches. The optimizer state goes into ``trainer_state.pt`` (bit-identical CPU resume).
* :class:`DeepSpeedStepper`: ``deepspeed.initialize`` with a ZeRO stage from the config (bf16 on
  GPU; fp32 + ``torch_adam`` on CPU). Every rank writes its optimizer partition with DeepSpeed's
  own ``save_checkpoint`` into the checkpoint being staged, so a resume reloads the partitions.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import torch

from mimo.train.config import TrainConfig
from mimo.train.distributed import DistContext, wrap_model

DS_TAG = "deepspeed"  # sub-directory of a checkpoint holding DeepSpeed's optimizer partitions


class TorchStepper:
    """AdamW over ``params``; DDP around the model on more than one rank."""

    def __init__(self, model: Any, params: list[Any], cfg: TrainConfig, ctx: DistContext):
        self.model, self.params, self.cfg, self.ctx = model, params, cfg, ctx
        model.to(ctx.device)
        self.runner = wrap_model(model, ctx)
        self.opt = torch.optim.AdamW(params, lr=cfg.lr.lr_at(cfg.tokens_offset), betas=cfg.optimizer.betas,
                                     eps=cfg.optimizer.eps, weight_decay=cfg.optimizer.weight_decay)
        self._accum = 1

    def begin_step(self, batch: int, lr: float) -> None:
        """Set this step's LR and global batch; clear gradients."""
        for group in self.opt.param_groups:
            group["lr"] = lr
        self._accum = batch // (self.cfg.micro_batch_size * self.ctx.world_size)
        self.opt.zero_grad(set_to_none=True)

    def micro_step(self, index: int, mtp_loss_weight: float, **inputs: torch.Tensor) -> Any:
        """Forward and backward of micro-batch ``index`` (gradients synced on the last one)."""
        last = index == self._accum - 1
        sync = contextlib.nullcontext() if not self.ctx.enabled or last else self.runner.no_sync()
        with sync:
            out = self.runner(**{k: v.to(self.ctx.device) for k, v in inputs.items()},
                              mtp_loss_weight=mtp_loss_weight)
            (out.loss / self._accum).backward()
        return out

    def finish_step(self) -> float:
        """Clip, then update unless the gradient norm is not finite; return the pre-clip norm."""
        norm = float(torch.nn.utils.clip_grad_norm_(self.params, self.cfg.optimizer.grad_clip))
        if torch.isfinite(torch.tensor(norm)):
            self.opt.step()
        return norm

    @property
    def micro_batches(self) -> int:
        return self._accum

    def optimizer_state(self) -> dict | None:
        return self.opt.state_dict()

    def stage_checkpoint(self, root: Path, step: int) -> Path | None:
        """Nothing to write besides the trainer state (collective-free)."""
        return None

    def load(self, checkpoint: Path, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])


def _single_process_env() -> None:
    """DeepSpeed expects torchrun's variables even for one process; provide them."""
    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def resolve_deepspeed_config(cfg: TrainConfig, ctx: DistContext) -> dict[str, Any]:
    """The DeepSpeed JSON for this run: ``cfg.deepspeed`` (a full config, or options such as
    ``{"zero_stage": 2}``), else the job's ``MIMO_DEEPSPEED_CONFIG`` file. Batch sizes are the
    training config's (the loop's batch warm-up changes accumulation per step); on CPU bf16 is
    turned off and torch's AdamW replaces the CUDA kernel."""
    from mimo.cluster.deepspeed import DeepSpeedOptions, deepspeed_config

    raw = dict(cfg.deepspeed)
    if not raw and os.environ.get("MIMO_DEEPSPEED_CONFIG"):
        raw = json.loads(Path(os.environ["MIMO_DEEPSPEED_CONFIG"]).read_text())
    on_cpu = ctx.device == "cpu"
    batch = cfg.batch.batch_at(cfg.tokens_offset, multiple_of=cfg.micro_batch_size * ctx.world_size)
    if "zero_optimization" not in raw:  # options form
        opts = {"bf16": not on_cpu, "cpu": on_cpu, **raw, "micro_batch_per_gpu": cfg.micro_batch_size,
                "global_batch": batch}
        raw = deepspeed_config(DeepSpeedOptions(**opts), ctx.world_size)
    raw = json.loads(json.dumps(raw))  # private copy
    raw.update(train_micro_batch_size_per_gpu=cfg.micro_batch_size, train_batch_size=batch,
               gradient_accumulation_steps=batch // (cfg.micro_batch_size * ctx.world_size),
               gradient_clipping=cfg.optimizer.grad_clip)
    adam = raw.setdefault("optimizer", {"type": "AdamW", "params": {}}).setdefault("params", {})
    adam.update(lr=cfg.lr.lr_at(cfg.tokens_offset), betas=list(cfg.optimizer.betas), eps=cfg.optimizer.eps,
                weight_decay=cfg.optimizer.weight_decay)
    if on_cpu:
        adam["torch_adam"] = True  # no CUDA kernels; avoids minutes of JIT compiling
        raw["bf16"] = {"enabled": False}  # bf16 is ~20x slower than fp32 on CPU
        raw.setdefault("zero_optimization", {}).pop("offload_optimizer", None)
    return raw


class DeepSpeedStepper:
    """A DeepSpeed engine over the model; ZeRO stage, bf16 and buckets from the DeepSpeed config."""

    def __init__(self, model: Any, params: list[Any], cfg: TrainConfig, ctx: DistContext):
        try:
            import deepspeed
        except ImportError as e:
            raise ValueError(f"{cfg.stage}: backend 'deepspeed' needs the deepspeed package ({e})") from None
        if not ctx.enabled:
            _single_process_env()
        self.cfg, self.ctx = cfg, ctx
        self.ds_config = resolve_deepspeed_config(cfg, ctx)
        if self.ds_config.get("zero_optimization", {}).get("stage", 0) == 3:
            raise ValueError(f"{cfg.stage}: ZeRO stage 3 is not supported by this loop yet (checkpoints are "
                             "written with save_pretrained from rank 0, which needs whole parameters); use 1 or 2")
        model.to(ctx.device)
        self.engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=params, config=self.ds_config)
        self.model = model

    def begin_step(self, batch: int, lr: float) -> None:
        self.engine.set_train_batch_size(batch)
        for group in self.engine.optimizer.param_groups:
            group["lr"] = lr

    @property
    def micro_batches(self) -> int:
        return self.engine.gradient_accumulation_steps()

    def micro_step(self, index: int, mtp_loss_weight: float, **inputs: torch.Tensor) -> Any:
        """Forward, backward (scaled by accumulation) and the engine's step (updates at the boundary)."""
        device = self.engine.device
        out = self.engine(**{k: v.to(device) for k, v in inputs.items()}, mtp_loss_weight=mtp_loss_weight)
        self.engine.backward(out.loss)
        self.engine.step()
        return out

    def finish_step(self) -> float:
        norm = self.engine.get_global_grad_norm()
        return float("nan") if norm is None else float(norm)

    def optimizer_state(self) -> dict | None:
        return None  # in the DeepSpeed sub-directory

    def stage_checkpoint(self, root: Path, step: int) -> Path:
        """Collective: every rank writes its ZeRO partition into ``root/step-N.tmp-staging``."""
        from mimo.train.distributed import barrier

        staging = root / f"step-{step:08d}.tmp-staging"
        if self.ctx.is_main:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        barrier(self.ctx)
        self.engine.save_checkpoint(str(staging), tag=DS_TAG, save_latest=False)
        barrier(self.ctx)
        return staging

    def load(self, checkpoint: Path, state: dict[str, Any]) -> None:
        if not (checkpoint / DS_TAG).is_dir():
            raise ValueError(f"{checkpoint} has no DeepSpeed state ({DS_TAG}/); it was written by another backend")
        path, _ = self.engine.load_checkpoint(str(checkpoint), tag=DS_TAG, load_lr_scheduler_states=False)
        if path is None:
            raise ValueError(f"DeepSpeed could not load its state from {checkpoint / DS_TAG}")


def make_stepper(model: Any, params: list[Any], cfg: TrainConfig, ctx: DistContext) -> TorchStepper | DeepSpeedStepper:
    """The stepper for ``cfg.backend`` (``single`` and ``ddp`` both mean torch; DDP when torchrun
    started more than one rank)."""
    if cfg.backend == "deepspeed":
        return DeepSpeedStepper(model, params, cfg, ctx)
    return TorchStepper(model, params, cfg, ctx)
