"""Local tasks: worker processes of their own, ``workers`` at a time, a failed task retried alone.

The stage's datatrove executor is pickled once (``executor.pik``, as datatrove's Slurm executor
does); worker processes (:class:`~mimo.verifiers.deadline_pool.DeadlinePool`: plain subprocesses,
not forks of the driver) run ``executor._run_for_rank(rank)``. A task that raises, passes its
deadline, or whose worker dies (out of memory, SIGKILL) is reported and run again in a later round,
at most ``retries`` times; the other tasks go on meanwhile. Tasks completed by an earlier run
(datatrove's completion markers) are skipped.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TaskFailure:
    """A task that did not complete after its retries."""

    rank: int
    attempts: int
    error: str


def run_tasks(executor, workers: int, retries: int, task_timeout_s: float,
              progress: Callable[[int, int], None] | None = None) -> list[TaskFailure]:
    """Run the incomplete ranks of ``executor`` (a datatrove ``PipelineExecutor``); the failures."""
    import dill

    from mimo.verifiers.deadline_pool import OK, TIMEOUT, DeadlinePool

    logging_dir = Path(executor.logging_dir.path)
    todo = executor.get_incomplete_ranks()
    total = executor.world_size
    done = total - len(todo)
    if not todo:
        return []
    logging_dir.mkdir(parents=True, exist_ok=True)
    pickled = logging_dir / "executor.pik"
    tmp = pickled.with_name(f"executor.pik.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        dill.dump(executor, f, recurse=True)
    os.replace(tmp, pickled)
    errors: dict[int, str] = {}
    attempts = 0
    with DeadlinePool("mimo.data.engine.task:run_rank", min(workers, len(todo)), "mimo.data.engine.task:warm") as pool:
        while todo and attempts <= retries:
            attempts += 1
            outcomes = pool.map([(str(pickled), r) for r in todo], task_timeout_s)
            left = []
            for rank, (kind, value) in zip(todo, outcomes):
                if kind == OK and executor.is_rank_completed(rank):
                    done += 1
                    continue
                errors[rank] = (f"passed its deadline of {task_timeout_s:g}s" if kind == TIMEOUT
                                else str(value) if kind != OK else "ended without its completion marker")
                left.append(rank)
            todo = left
            if progress:
                progress(done, total)
    return [TaskFailure(r, attempts, errors[r]) for r in todo]
