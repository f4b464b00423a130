"""What the web-data assets share to run a stage on the data engine: the engine on the cluster
resource's backend, a work directory keyed by the inputs (so a rerun after a failure runs only the
tasks that did not complete; removed once the stage's results are read, so intermediate files do
not double the lake's size), and progress lines in the Dagster run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from mimo.data.engine import EngineConfig
from mimo.lake.storage import config_hash
from mimo.paths import expand
from resources.cluster import ClusterResource


def engine_for(cluster: ClusterResource, workers: int) -> EngineConfig:
    """Local worker processes, or Slurm arrays with the cluster's partition, account and setup."""
    return EngineConfig.from_cluster(cluster, workers=max(1, workers))


def engine_work_dir(asset: str, cluster: ClusterResource, engine: EngineConfig, root: str, key: Any) -> Path:
    """``<root>/<asset>/<hash of key>``; an empty ``root`` is ``<cluster job_root>/data-engine`` on
    Slurm (shared storage the compute nodes see), else ``{state}/data-engine``."""
    root = root or (f"{cluster.job_root}/data-engine" if engine.backend == "slurm" else "{state}/data-engine")
    return Path(expand(root)) / asset / config_hash(key)


def engine_progress(context: dg.AssetExecutionContext, label: str,
                    engine: EngineConfig) -> Callable[[str, int, int], None]:
    """A progress callback that logs ``<label> <stage>: done/total tasks done (backend)``."""
    def progress(stage: str, done: int, total: int) -> None:
        context.log.info(f"{label} {stage}: {done}/{total} tasks done ({engine.backend})")

    return progress


def release_work_dir(work: Path) -> None:
    """Remove a stage's work directory once its results are read (a failed stage keeps it)."""
    shutil.rmtree(work, ignore_errors=True)
