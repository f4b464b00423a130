"""GRPO with MiMo's changes: the loss (token-level, Clip-Higher, no KL), group advantages, dynamic
sampling and easy-data resampling, and the typed configuration. The trainer that ties them to the
rollout engine comes next (docs/grpo.md)."""

from mimo.rl.grpo.config import GRPOConfig
from mimo.rl.grpo.loss import LossOutput, group_advantages, grpo_loss, token_entropy
from mimo.rl.grpo.sampling import ProblemSampler, group_pass_rate, is_informative

__all__ = ["GRPOConfig", "LossOutput", "ProblemSampler", "group_advantages", "group_pass_rate", "grpo_loss",
           "is_informative", "token_entropy"]
