"""Rollout engines as processes: the engine server, the trainer's client, the pool the seamless
rollout engine schedules over, and weight sync from the trainer to the engines."""

from mimo.rl.engines.config import EnginesConfig
from mimo.rl.engines.launch import open_pool
from mimo.rl.engines.pool import EnginePool
from mimo.rl.engines.weight_sync import WeightSyncError

__all__ = ["EnginePool", "EnginesConfig", "WeightSyncError", "open_pool"]
