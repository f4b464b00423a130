"""One task of a stage, run in a worker process of :mod:`mimo.data.engine.local`.

``run_rank((executor_pickle, rank))`` loads the datatrove executor pickled by the driver (as
datatrove's Slurm array tasks do; cached per worker process) and runs its pipeline for ``rank``;
datatrove marks the rank completed only when the whole pipeline ran. An exception reaches the
driver as this task's error.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def _executor(path: str) -> Any:
    import dill

    with open(path, "rb") as f:
        return dill.load(f)


def run_rank(payload: tuple[str, int]) -> int:
    """Run task ``rank`` of the pickled executor; returns the rank."""
    path, rank = payload
    # local_rank 1: datatrove then prints only errors to stderr; the task's full log is its log file
    _executor(path)._run_for_rank(int(rank), local_rank=1)  # noqa: SLF001 - datatrove's per-task entry point
    return int(rank)


def warm() -> None:
    """Worker start-up: import what every task needs before the first deadline starts."""
    import datatrove.executor.local  # noqa: F401
    import dill  # noqa: F401
    import numpy  # noqa: F401
    import pyarrow.parquet  # noqa: F401
