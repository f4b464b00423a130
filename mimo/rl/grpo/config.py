"""Typed GRPO configuration: TRL/verl names where they match, MiMo's additions, MiMo's values as
defaults for the cluster (the tiny profile scales the sizes down)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class GRPOConfig(BaseModel):
    """One RL run. MiMo §3.3: batch 512 prompts, mini-batch 32 (16 updates per iteration), LR 1e-6,
    rollout temperature 1.0 / top-p 1.0, max length 32K, token-level loss, no KL, Clip-Higher,
    dynamic sampling, easy pool sampled with probability 0.1, MTP layers frozen."""

    model_config = ConfigDict(extra="forbid")

    num_generations: int = Field(16, ge=2)  # rollouts per prompt (G)
    batch_prompts: int = Field(512, ge=1)  # valid groups per iteration
    mini_batch_prompts: int = Field(32, ge=1)  # groups per optimizer update
    micro_batch_samples: int = Field(8, ge=1)  # sequences per forward/backward
    learning_rate: float = Field(1e-6, gt=0)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    epsilon: float = Field(0.2, ge=0)  # lower clip: ratio >= 1 - epsilon
    epsilon_high: float = Field(0.28, ge=0)  # upper clip (Clip-Higher; DAPO's value, MiMo gives none)
    loss_type: Literal["token", "grpo", "dr_grpo"] = "token"
    beta: float = Field(0.0, ge=0)  # KL coefficient; 0 = no reference model
    scale_rewards: bool = True  # divide advantages by the group std
    dynamic_sampling: bool = True
    max_sampling_rounds: int = Field(8, ge=1)  # over-sampling attempts before a step gives up on a full batch
    easy_pool_probability: float = Field(0.1, ge=0, le=1)
    temperature: float = Field(1.0, gt=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_completion_length: int = Field(32_768, ge=1)
    freeze_mtp: bool = True
    code_reward_scheme: Literal["vanilla", "strict", "soft"] = "strict"
    steps: int = Field(1, ge=1)  # iterations (rollout + updates)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> GRPOConfig:
        if self.batch_prompts % self.mini_batch_prompts:
            raise ValueError(f"batch_prompts {self.batch_prompts} is not a multiple of mini_batch_prompts "
                             f"{self.mini_batch_prompts}")
        if self.epsilon_high < self.epsilon:
            raise ValueError("epsilon_high below epsilon is the opposite of Clip-Higher")
        return self

    @property
    def updates_per_iteration(self) -> int:
        return self.batch_prompts // self.mini_batch_prompts
