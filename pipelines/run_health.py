"""Runs whose process died: find them, mark them failed, free their concurrency-pool slots.

A Dagster run that loses its process (kill -9, OOM killer, a lost machine) stays STARTED and keeps
its pool slots, so every later step of the ``gpu`` pool waits forever. Two paths clear it:

- With the daemon (``scripts/dagster-ui.sh``): ``dagster.yaml`` enables run monitoring and names
  :class:`LocalRunLauncher`, Dagster's default launcher plus a worker-health check, so the
  monitoring daemon marks such a run failed; ``free_slots_after_run_end_seconds`` then frees
  its slots.
- Without it (``python -m pipelines.run``, ``scripts/run.sh``): :func:`reap_dead_runs` does the
  same before any work starts.

The run worker's process id is the one recorded on the run's ``RUN_START`` event (Dagster records
the emitting pid on every event). This instance is local (SQLite storage), so the pid is a pid of
this machine; a process started after the run began is a reused pid, not the run's worker.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import psutil
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.dagster_run import FINISHED_STATUSES, DagsterRunStatus, RunRecord

_WATCHED = [DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
_PID_REUSE_SLACK_S = 2.0


@dataclass(frozen=True)
class WorkerHealth:
    """Whether a run's worker process is alive, and why we think so."""

    alive: bool
    reason: str
    pid: int | None = None


def run_worker_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid that emitted the run's ``RUN_START`` event (None before the run started)."""
    conn = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1)
    for record in conn.records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return int(event.pid)
    return None


def worker_health(instance: dg.DagsterInstance, record: RunRecord) -> WorkerHealth:
    """Alive unless the run's worker pid is gone, a zombie, or a newer process with a reused pid."""
    pid = run_worker_pid(instance, record.dagster_run.run_id)
    if pid is None:
        return WorkerHealth(True, "the run has not recorded its start yet")
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return WorkerHealth(False, f"run worker process {pid} has exited (zombie)", pid)
        started = record.start_time or record.create_timestamp.timestamp()
        if proc.create_time() > started + _PID_REUSE_SLACK_S:
            return WorkerHealth(False, f"run worker process {pid} is gone (the pid now belongs to another process)", pid)
    except psutil.NoSuchProcess:
        return WorkerHealth(False, f"run worker process {pid} is gone (killed, crashed or out of memory)", pid)
    except psutil.Error as exc:  # e.g. access denied: it exists
        return WorkerHealth(True, f"run worker process {pid} exists ({type(exc).__name__})", pid)
    return WorkerHealth(True, f"run worker process {pid} is running", pid)


def free_finished_run_slots(instance: dg.DagsterInstance) -> dict[str, int]:
    """Free pool slots still claimed by runs that have finished; returns freed slots per run."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return {}
    run_ids = list(storage.get_concurrency_run_ids())
    if not run_ids:
        return {}
    records = instance.get_run_records(dg.RunsFilter(run_ids=run_ids, statuses=list(FINISHED_STATUSES)))
    freed = {}
    for record in records:
        n = storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
        if n:
            freed[record.dagster_run.run_id] = n
    return freed


def reap_dead_runs(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """Mark runs whose worker process died as failed and free every slot held by a finished run.
    Returns ``(run_id, reason)`` for each run marked failed."""
    reaped = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=_WATCHED)):
        health = worker_health(instance, record)
        if health.alive:
            continue
        run = record.dagster_run
        instance.report_run_failed(run, f"Marked failed: {health.reason}. Its pool slots are freed; rerun it "
                                   "(training jobs it started are reattached to, not started twice).")
        reaped.append((run.run_id, health.reason))
    free_finished_run_slots(instance)
    return reaped


class LocalRunLauncher(dg.DefaultRunLauncher):
    """Dagster's default launcher, plus the worker-health check run monitoring needs."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        records = self._instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id]), limit=1)
        if not records:
            return CheckRunHealthResult(WorkerStatus.UNKNOWN, "no record of the run")
        health = worker_health(self._instance, records[0])
        return CheckRunHealthResult(WorkerStatus.RUNNING if health.alive else WorkerStatus.FAILED, health.reason)
