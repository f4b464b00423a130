"""DeepSpeed config rendering (a JSON dict); ``deepspeed`` itself is not imported here.

Defaults follow the MiMo-7B pretraining setup as far as it is public (AdamW, betas 0.9/0.95,
weight decay 0.1, gradient clipping 1.0, bf16); batch sizes come from the training config.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DeepSpeedOptions(BaseModel):
    """The knobs the training configs set; everything else in the JSON is derived."""

    model_config = ConfigDict(extra="forbid")

    zero_stage: Literal[0, 1, 2, 3] = 2
    bf16: bool = True
    micro_batch_per_gpu: int = Field(1, ge=1)
    global_batch: int = Field(ge=1)  # sequences per optimizer step over all ranks
    gradient_clipping: float = Field(1.0, ge=0)
    lr: float = Field(3e-4, gt=0)  # the training loop owns the schedule; this is the peak
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    offload_optimizer: Literal["none", "cpu"] = "none"
    offload_params: Literal["none", "cpu"] = "none"  # ZeRO-3 only
    reduce_bucket_size: int = 500_000_000
    steps_per_print: int = 100
    cpu: bool = False  # CPU training: torch's AdamW instead of the CUDA fused kernel

    @model_validator(mode="after")
    def _check(self) -> DeepSpeedOptions:
        if self.offload_params != "none" and self.zero_stage != 3:
            raise ValueError("offload_params needs zero_stage 3")
        if self.offload_optimizer != "none" and self.zero_stage == 0:
            raise ValueError("offload_optimizer needs zero_stage >= 1")
        return self


def gradient_accumulation(global_batch: int, micro_batch_per_gpu: int, world_size: int) -> int:
    """Accumulation steps so that micro × accumulation × world size == global batch, or a clear error."""
    per_step = micro_batch_per_gpu * world_size
    if world_size < 1 or global_batch % per_step:
        raise ValueError(
            f"global batch {global_batch} is not a multiple of micro batch {micro_batch_per_gpu} × "
            f"world size {world_size} = {per_step}; change global_batch or micro_batch_per_gpu")
    return global_batch // per_step


def deepspeed_config(opts: DeepSpeedOptions, world_size: int) -> dict[str, Any]:
    """The ``ds_config.json`` content for ``world_size`` ranks."""
    accum = gradient_accumulation(opts.global_batch, opts.micro_batch_per_gpu, world_size)
    zero: dict[str, Any] = {"stage": opts.zero_stage}
    if opts.zero_stage >= 1:
        zero.update(overlap_comm=True, contiguous_gradients=True, reduce_scatter=True,
                    reduce_bucket_size=opts.reduce_bucket_size, allgather_bucket_size=opts.reduce_bucket_size)
    if opts.zero_stage == 3:
        zero.update(stage3_gather_16bit_weights_on_model_save=True, stage3_param_persistence_threshold=1_000_000)
    if opts.offload_optimizer != "none":
        zero["offload_optimizer"] = {"device": opts.offload_optimizer, "pin_memory": not opts.cpu}
    if opts.offload_params != "none":
        zero["offload_param"] = {"device": opts.offload_params, "pin_memory": not opts.cpu}
    adam: dict[str, Any] = {"lr": opts.lr, "betas": list(opts.betas), "eps": opts.eps,
                            "weight_decay": opts.weight_decay}
    if opts.cpu:
        adam["torch_adam"] = True  # FusedAdam needs CUDA
    return {
        "train_batch_size": opts.global_batch,
        "train_micro_batch_size_per_gpu": opts.micro_batch_per_gpu,
        "gradient_accumulation_steps": accum,
        "gradient_clipping": opts.gradient_clipping,
        "bf16": {"enabled": opts.bf16},
        "fp16": {"enabled": False},
        "optimizer": {"type": "AdamW", "params": adam},
        "zero_optimization": zero,
        "steps_per_print": opts.steps_per_print,
        "wall_clock_breakdown": False,
    }


def write_deepspeed_config(config: dict[str, Any], path: str) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    return path
