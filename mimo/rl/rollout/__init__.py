"""GRPO rollout engine (MiMo-7B "Seamless Rollout Engine"): continuous rollout, asynchronous
rewards and FIFO early termination over the project's :class:`~mimo.generate.base.Generator`,
plus the naive dynamic-sampling baseline and a cluster-scale simulator. No Dagster import."""

from mimo.rl.rollout.engine import SeamlessRolloutEngine
from mimo.rl.rollout.metrics import RolloutMetrics
from mimo.rl.rollout.rewards import MiMoRewardFn, RewardFn, RewardPool
from mimo.rl.rollout.types import (
    GroupResult,
    NotEnoughValidGroups,
    RolloutBatch,
    RolloutConfig,
    RolloutSample,
    RolloutTask,
    tasks_from_problems,
)

__all__ = ["GroupResult", "MiMoRewardFn", "NotEnoughValidGroups", "RewardFn", "RewardPool", "RolloutBatch",
           "RolloutConfig", "RolloutMetrics", "RolloutSample", "RolloutTask", "SeamlessRolloutEngine",
           "tasks_from_problems"]
