"""Slurm tasks: a stage as one array job through datatrove's ``SlurmPipelineExecutor``.

Each array task runs datatrove's ``launch_pickled_pipeline`` on the pickled executor (its rank from
``SLURM_ARRAY_TASK_ID``). The driver waits for the array to leave the queue, reporting the completed
tasks as they come; the ranks without a completion marker are then launched again as a new array
(a failed task is retried alone), at most ``retries`` times. Partition, account, QOS, time limit and
setup lines are the cluster resource's, as for training jobs; ``logging_dir`` must be on storage
the compute nodes share.
"""

from __future__ import annotations

import re

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datatrove.executor import SlurmPipelineExecutor

from mimo.data.engine.local import TaskFailure


class StageArrayExecutor(SlurmPipelineExecutor):
    """datatrove's Slurm executor, less two things: its stats-merging job (it waits on ``afterok``
    and would stay pending forever after a failed task; the driver reads the tasks' files), and
    empty sbatch directives (no partition/QOS set: the cluster's defaults)."""

    def launch_merge_stats(self) -> None:
        return None

    def get_sbatch_args(self, max_array: int = 1) -> dict:
        args = super().get_sbatch_args(max_array)
        return {k: v for k, v in args.items() if v not in ("", None) or k in ("requeue",)}


def make_slurm_executor(pipeline: list, tasks: int, logging_dir: Path, name: str, config: Any) -> Any:
    """The stage's datatrove executor with the cluster settings of ``config`` (an EngineConfig)."""
    from mimo.paths import REPO_ROOT

    setup = [*config.setup, f"source {shlex.quote(str(Path(sys.executable).parent / 'activate'))}",
             f"export PYTHONPATH={shlex.quote(str(REPO_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"]
    sbatch: dict[str, Any] = {}
    if config.account:
        sbatch["account"] = config.account
    for flag in config.extra_sbatch:
        key, _, value = flag.lstrip("-").partition("=")
        sbatch[key] = value
    return StageArrayExecutor(
        pipeline, tasks=tasks, time=config.time_limit, partition=config.partition or "",
        cpus_per_task=config.cpus_per_task, mem_per_cpu_gb=config.mem_per_cpu_gb, workers=config.workers,
        job_name="mimo-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", name), qos=config.qos or "", env_command="\n".join(setup), sbatch_args=sbatch,
        logging_dir=str(logging_dir), slurm_logs_folder=str(logging_dir / "slurm_logs"), with_srun=False,
        mail_user=None, requeue=False)


def _queued(job_id: str, timeout_s: float = 60.0) -> int | None:
    """Array tasks of ``job_id`` still pending or running (None: the controller did not answer)."""
    from mimo.cluster.slurm import _run

    proc = _run(["squeue", "-h", "-r", "-j", job_id, "-o", "%i %T"], timeout_s)
    if proc.returncode != 0:
        if "Invalid job id" in proc.stderr:
            return 0
        return None
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def _task_log_tail(logging_dir: Path, job_id: str, rank_index: int, n: int = 12) -> str:
    path = logging_dir / "slurm_logs" / f"{job_id}_{rank_index}.out"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {path})"


def run_slurm_tasks(executor: Any, retries: int, poll_s: float,
                    progress: Callable[[int, int], None] | None = None) -> list[TaskFailure]:
    """Launch the incomplete ranks as array jobs until they complete or ``retries`` run out."""
    logging_dir = Path(executor.logging_dir.path)
    total = executor.world_size
    attempts = 0
    last: dict[int, str] = {}
    while True:
        todo = executor.get_incomplete_ranks()
        if not todo or attempts > retries:
            break
        attempts += 1
        executor.job_id = None
        executor.run()  # pickles itself and submits one array over ``todo`` (ranks_to_run.json)
        job_id = str(executor.job_id)
        done_before = -1
        while True:
            queued = _queued(job_id)
            done = total - len(executor.get_incomplete_ranks())
            if progress and done != done_before:
                progress(done, total)
                done_before = done
            if queued == 0:
                break
            time.sleep(poll_s)
        for index, rank in enumerate(todo):
            if not executor.is_rank_completed(rank):
                last[rank] = f"array job {job_id} task {index}:\n{_task_log_tail(logging_dir, job_id, index)}"
    return [TaskFailure(r, attempts, last.get(r, "not run")) for r in executor.get_incomplete_ranks()]
