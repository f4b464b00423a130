"""The live-job record: which job currently owns a job name, kept outside any Dagster run.

``<job_root>/<job name>/active.json`` holds the :class:`JobHandle` of the job last submitted (or
reattached) under that name, the Dagster run that did it and the spec fingerprint; it is replaced
atomically. ``<job_root>/<job name>/.submit.lock`` is flocked around check-then-submit, so two
orchestrators cannot both decide that nothing runs and submit. The training assets name a job
``<stage>-<hash of config and inputs>``, the same key as their work directory, so one name is one
work directory and this record is what makes a plain rerun (no run tags) find a job whose
orchestrator died.

:func:`decide` is the whole policy, without I/O: given the record and where its job stands, either
reattach, wait for it, or submit. No Dagster import.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Literal

from mimo.cluster.job import JobHandle, JobStatus, write_text_atomic
from mimo.cluster.locks import exclusive_lock

RECORD = "active.json"
SUBMIT_LOCK = ".submit.lock"


@dataclass
class LiveJob:
    """What ``active.json`` holds."""

    handle: JobHandle
    run_id: str
    fingerprint: str
    recorded_at: float
    host: str
    pid: int

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "handle": asdict(self.handle)}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LiveJob:
        raw = json.loads(text)
        return cls(**{**raw, "handle": JobHandle(**raw["handle"])})


class JobRegistry:
    """The record and submit lock of one job name under ``job_root``."""

    def __init__(self, job_root: str, name: str):
        self.dir = os.path.join(job_root, name)
        self.path = os.path.join(self.dir, RECORD)
        self.lock_path = os.path.join(self.dir, SUBMIT_LOCK)

    @contextmanager
    def locked(self, timeout_s: float = 300.0) -> Iterator[None]:
        """Exclusive across processes (``LockTimeout`` after ``timeout_s``)."""
        with exclusive_lock(self.lock_path, timeout_s):
            yield

    def read(self) -> LiveJob | None:
        """The record, or None when there is none. A record that cannot be parsed raises ``ValueError``."""
        try:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            return None
        try:
            return LiveJob.from_json(text)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"unreadable live-job record {self.path}: {exc}") from exc

    def check(self, fingerprint: str, status_of: Callable[[JobHandle], JobStatus], warn: Callable[[str], None],
              reattach: bool = True) -> tuple[Decision, LiveJob | None]:
        """Read the record, ask ``status_of`` where its job stands and :func:`decide`; with
        ``reattach`` off a live job is still waited for, a completed one submitted again."""
        try:
            record = self.read()
        except ValueError as exc:
            warn(f"{exc}; ignoring it")
            record = None
        status = None
        if record is not None:
            try:
                status = status_of(record.handle)
            except (RuntimeError, OSError, ValueError) as exc:  # SlurmError is a RuntimeError
                warn(f"cannot query recorded {record.handle.backend} job {record.handle.job_id}: {exc}")
        decision = decide(record, status, fingerprint)
        if decision.action == "reattach" and not reattach:
            decision = Decision("wait" if status and status.active else "submit", decision.why + " (reattach is off)")
        return decision, record

    def gave_up(self, name: str, record: LiveJob | None, why: str, waited_s: float) -> str:
        """The error after waiting ``waited_s`` for the recorded job to end."""
        if record is None:
            return f"{name}: gave up waiting for the live job after {waited_s:.0f}s ({why})"
        h = record.handle
        return (f"{name}: {why}; after waiting {waited_s:.1f}s (wait_for_live_job_s) it has not ended, so no "
                f"second job was submitted into the same work directory. The live job: {h.backend} job {h.job_id}, "
                f"dir {h.job_dir}, recorded by run {record.run_id} on {record.host}. Cancel it with "
                f"`{cancel_hint(h)}` or let it finish, then rerun. Record: {self.path}")

    def write(self, handle: JobHandle, run_id: str) -> LiveJob:
        """Record ``handle`` as the live job of this name (atomic replace); call with the lock held."""
        job = LiveJob(handle, run_id, handle.fingerprint, time.time(), socket.gethostname(), os.getpid())
        os.makedirs(self.dir, exist_ok=True)
        write_text_atomic(self.path, job.to_json())
        return job


Action = Literal["reattach", "wait", "submit"]


@dataclass
class Decision:
    action: Action
    why: str


def decide(record: LiveJob | None, status: JobStatus | None, fingerprint: str) -> Decision:
    """What a run about to submit a job with ``fingerprint`` does, given the recorded job and its
    status (``status`` None: the scheduler could not be asked).

    - recorded job still active, same spec: reattach; other spec: wait for it (never two trainers);
    - cannot tell whether it is active: wait (and ask again);
    - ended COMPLETED with the same spec: reattach (its messages hold the result);
    - otherwise (none, failed, cancelled, unknown to the scheduler, completed with another spec):
      submit (the trainer resumes from its last complete checkpoint).
    """
    if record is None:
        return Decision("submit", "no live job is recorded")
    what = f"{record.handle.backend} job {record.handle.job_id}"
    same = record.fingerprint == fingerprint
    if status is None:
        return Decision("wait", f"{what} could not be queried")
    if status.active:
        if same:
            return Decision("reattach", f"{what} is still {status.state} with the same spec")
        return Decision("wait", f"{what} is still {status.state} with another spec "
                                f"(fingerprint {record.fingerprint}, this run's {fingerprint})")
    if status.ok and same:
        return Decision("reattach", f"{what} COMPLETED with the same spec")
    return Decision("submit", f"{what} ended {status.state}" + ("" if same else " with another spec"))


def cancel_hint(handle: JobHandle) -> str:
    """How an operator stops a job by hand."""
    if handle.backend == "slurm":
        return f"scancel {handle.job_id}"
    if handle.backend == "local":
        pid = handle.job_id.split("@")[0]
        return f"kill -TERM -{pid}  (the job's process group)"
    return f"cancel {handle.backend} job {handle.job_id}"


__all__ = ["RECORD", "SUBMIT_LOCK", "Decision", "JobRegistry", "LiveJob", "cancel_hint", "decide"]
