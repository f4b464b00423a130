"""Run one stage (a datatrove pipeline over ``tasks`` tasks) on the configured executor.

``local``: worker processes run datatrove's pipeline for one rank at a time
(:mod:`mimo.data.engine.local`), ``workers`` of them; a failed or killed task is retried alone.
Completed tasks leave datatrove's marker in ``<logging_dir>/completions``, so a rerun runs only the
tasks that did not complete. Each task also records its peak resident memory
(``<logging_dir>/rss/<rank>.json``), read back into :class:`StageRun`.

``slurm``: the stage is an array job (:mod:`mimo.data.engine.slurm`), failed ranks relaunched
as a new array.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from pydantic import BaseModel, ConfigDict, Field


class EngineConfig(BaseModel):
    """Where the data stages run."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["local", "slurm"] = "local"
    workers: int = Field(1, ge=1)  # tasks run at once (slurm: the array's %limit)
    retries: int = Field(2, ge=0)  # a failed or killed task is started again this many times
    task_timeout_s: float = Field(6 * 3600.0, gt=0)  # local: a task still running after this is killed
    # slurm: the cluster resource's settings (partition, account, qos, setup lines, extra sbatch flags)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str = "24:00:00"
    setup: list[str] = Field(default_factory=list)
    extra_sbatch: list[str] = Field(default_factory=list)
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: int = Field(2, ge=1)
    poll_s: float = Field(5.0, gt=0)

    @classmethod
    def from_cluster(cls, cluster: object, **kw: object) -> EngineConfig:
        """The engine on the cluster resource's backend (``local`` or ``slurm``) and Slurm settings."""
        backend = getattr(cluster, "backend", "local")
        if backend != "slurm":
            return cls(**kw)
        return cls(backend="slurm", partition=cluster.partition, account=cluster.account, qos=cluster.qos,
                   setup=list(cluster.setup), extra_sbatch=list(cluster.extra_sbatch),
                   poll_s=min(5.0, float(cluster.poll_interval_s)), **kw)


@dataclass
class StageRun:
    """What one stage did: its tasks, wall time, and each task's peak RSS (MB)."""

    name: str
    tasks: int
    seconds: float
    peak_rss_mb: dict[int, float] = field(default_factory=dict)

    @property
    def max_rss_mb(self) -> float:
        return max(self.peak_rss_mb.values(), default=0.0)


class RecordPeakMemory(PipelineStep):
    """Last step of every stage: writes the task process's peak RSS to ``<dir>/<rank>.json``."""

    name = "record peak memory"
    type = "📊 - STATS"

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for _ in data or ():
            pass
        os.makedirs(self.directory, exist_ok=True)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        path = os.path.join(self.directory, f"{rank:05d}.json")
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"rank": rank, "pid": os.getpid(), "peak_rss_mb": round(peak_mb, 1)}, f)
        os.replace(tmp, path)
        yield from ()


class StageFailed(RuntimeError):
    """Tasks of a stage did not complete after their retries (the others did)."""

    def __init__(self, name: str, failures: list, logging_dir: Path) -> None:
        self.failures = failures
        lines = [f"rank {f.rank} after {f.attempts} attempt(s): {f.error}" for f in failures[:5]]
        super().__init__(f"stage {name}: {len(failures)} task(s) failed; the others completed and a rerun runs "
                         f"only the failed ones (logs: {logging_dir}/tasks)\n" + "\n".join(lines))


def run_stage(name: str, pipeline: Sequence[Callable], tasks: int, logging_dir: str | Path,
              config: EngineConfig | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> StageRun:
    """Run ``pipeline`` over ``tasks`` tasks (each in its own process, retried alone); raise
    :class:`StageFailed` naming the tasks that failed after their retries."""
    from datatrove.executor import LocalPipelineExecutor

    from mimo.data.engine.local import run_tasks

    config = config or EngineConfig()
    logging_dir = Path(logging_dir)
    rss_dir = logging_dir / "rss"
    steps = [*pipeline, RecordPeakMemory(str(rss_dir))]
    t0 = time.perf_counter()
    report = (lambda done, total: progress(name, done, total)) if progress else None
    if config.backend == "slurm":
        from mimo.data.engine.slurm import make_slurm_executor, run_slurm_tasks

        executor = make_slurm_executor(steps, tasks, logging_dir, name, config)
        failures = run_slurm_tasks(executor, config.retries, config.poll_s, report)
    else:
        executor = LocalPipelineExecutor(steps, tasks=tasks, workers=1, logging_dir=str(logging_dir))
        failures = run_tasks(executor, config.workers, config.retries, config.task_timeout_s, report)
    if failures:
        raise StageFailed(name, failures, logging_dir)
    peaks = {}
    for p in rss_dir.glob("*.json"):
        rec = json.loads(p.read_text())
        peaks[int(rec["rank"])] = float(rec["peak_rss_mb"])
    return StageRun(name, tasks, time.perf_counter() - t0, peaks)
