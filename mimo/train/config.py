"""Typed training configuration (YAML/JSON file -> :class:`TrainConfig`; unknown fields are errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mimo.train.schedule import BatchWarmup, LRSchedule, Segment, StepSchedule


class OptimizerConfig(BaseModel):
    """AdamW as in MiMo: betas (0.9, 0.95), weight decay 0.1, gradient clipping 1.0."""

    model_config = ConfigDict(extra="forbid")
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0


class TrainConfig(BaseModel):
    """One training stage (pretraining stage, MTP expansion, or SFT)."""

    model_config = ConfigDict(extra="forbid")
    stage: str
    data_dirs: list[str]
    out_dir: str
    init_from: str | None = None  # previous stage's checkpoint; None = fresh model from `model`
    model: dict[str, Any] = Field(default_factory=dict)  # preset + overrides for a fresh model
    model_overrides: dict[str, Any] = Field(default_factory=dict)  # applied to init_from (e.g. rope_theta)
    tokenizer: str | None = None  # saved with the checkpoint
    stage_tokens: int = Field(gt=0)  # tokens to train in this stage
    tokens_offset: int = Field(0, ge=0)  # global tokens before this stage (schedules are global)
    micro_batch_size: int = Field(4, ge=1)
    batch: BatchWarmup = Field(default_factory=lambda: BatchWarmup(start=8, end=8, warmup_tokens=0))
    lr: LRSchedule = Field(default_factory=lambda: LRSchedule(start_lr=0.0, segments=[
        Segment(tokens=10_000, kind="linear", end_lr=1e-3), Segment(tokens=10**12, kind="constant")]))
    mtp_weight: StepSchedule = Field(default_factory=lambda: StepSchedule(points=[(0, 0.3)]))
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    freeze: Literal["none", "all_but_new_mtp"] = "none"
    num_mtp_layers: int | None = None  # MTP expansion: total MTP layers after copying layer 0
    seed: int = 0
    checkpoint_every_steps: int = Field(50, ge=1)
    keep_last: int = Field(2, ge=1)
    log_every_steps: int = Field(5, ge=1)
    eval_rows: int = Field(16, ge=0)  # held-out rows (from the end of the data) for validation CE
    backend: Literal["single", "ddp", "deepspeed"] = "single"
    deepspeed: dict[str, Any] = Field(default_factory=dict)
    threads: int | None = None


def load_config_file(path: str | Path, model: type[BaseModel], what: str) -> Any:
    """Read a YAML or JSON file into ``model``; a wrong field or value is a ``ValueError`` naming it."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) if path.suffix in (".yaml", ".yml") else json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {what} {path}: {e}") from None
    try:
        return model(**raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ValueError(f"invalid {what} {path}: {problems}") from None


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a YAML or JSON ``TrainConfig``; a wrong field or value is a ``ValueError`` naming it."""
    return load_config_file(path, TrainConfig, "training config")
