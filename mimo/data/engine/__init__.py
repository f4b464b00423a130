"""The data engine: datatrove's executors run the web-data stages as tasks (local processes here,
Slurm array jobs on a cluster); the project's own pieces are datatrove pipeline steps."""

from mimo.data.engine.executor import EngineConfig, StageFailed, StageRun, run_stage

__all__ = ["EngineConfig", "StageFailed", "StageRun", "run_stage"]
