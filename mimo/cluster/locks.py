"""File locks (``fcntl.flock``) that keep one writer per directory.

- :func:`exclusive_lock`: a short critical section shared by processes on this host (the cluster
  resource's check-then-submit), waiting at most ``timeout_s``.
- :func:`trainer_lock`: held by a training entrypoint for its whole life on ``<out dir>/.trainer.lock``;
  a second trainer on the same directory gets :class:`TrainerLockBusy` at once, naming the holder
  (pid, host, job). Under torchrun/srun only global rank 0 takes it (every rank shares the directory
  and the launcher tears the other ranks down when rank 0 exits).

A ``flock`` is released by the kernel when its holder dies (kill -9 included), so no lock is ever
stale. Across hosts it needs a file system that supports it (local disks, NFSv4; Lustre mounted
with ``-o flock``). No Dagster import: this runs on cluster nodes.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from mimo.cluster.job import global_rank

TRAINER_LOCK = ".trainer.lock"


class LockTimeout(TimeoutError):
    """The lock stayed held by another process for longer than the caller would wait."""


class TrainerLockBusy(RuntimeError):
    """Another trainer holds the directory's lock."""

    exit_code = 75  # EX_TEMPFAIL: the entrypoint's exit status when the directory is taken

    def __init__(self, path: str, holder: dict[str, Any]):
        self.path, self.holder = path, holder
        who = ", ".join(f"{k} {holder[k]}" for k in ("pid", "host", "job_name", "job_id", "since") if holder.get(k))
        super().__init__(f"another trainer is already running on {os.path.dirname(path)} (it holds {path}: "
                         f"{who or 'holder unknown'}); not starting a second one. Wait for it to end, or stop it "
                         f"(its cluster job, or `kill {holder.get('pid', '<pid>')}` on {holder.get('host', 'its host')})")


def _open(path: str) -> int:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)


@contextmanager
def exclusive_lock(path: str, timeout_s: float = 300.0, poll_s: float = 0.05) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if missing); :class:`LockTimeout` after ``timeout_s``."""
    fd = _open(path)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"{path} is still locked by another process after {timeout_s:.0f}s") from None
                time.sleep(poll_s)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def read_holder(path: str) -> dict[str, Any]:
    """What the holder of a trainer lock wrote into it ({} when unreadable)."""
    for attempt in range(3):  # the holder writes right after locking: give it a moment
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
            if text.strip():
                return dict(json.loads(text))
        except (OSError, ValueError):
            pass
        time.sleep(0.1 * (attempt + 1))
    return {}


def _holder_record() -> dict[str, Any]:
    env = os.environ
    return {"pid": os.getpid(), "host": socket.gethostname(), "job_name": env.get("MIMO_JOB_NAME", ""),
            "job_id": env.get("SLURM_JOB_ID") or env.get("MIMO_JOB_DIR", ""),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@contextmanager
def trainer_lock(out_dir: str | os.PathLike[str], rank: int | None = None) -> Iterator[str | None]:
    """Hold ``<out_dir>/.trainer.lock`` for the life of the block (global rank 0 only; other ranks
    yield None). Raises :class:`TrainerLockBusy` at once when another process holds it."""
    if (global_rank() if rank is None else rank) != 0:
        yield None
        return
    path = os.path.join(os.fspath(out_dir), TRAINER_LOCK)
    fd = _open(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainerLockBusy(path, read_holder(path)) from None
        data = (json.dumps(_holder_record(), sort_keys=True) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        yield path
    finally:
        os.close(fd)


__all__ = ["TRAINER_LOCK", "LockTimeout", "TrainerLockBusy", "exclusive_lock", "read_holder", "trainer_lock"]


def hold_trainer_lock(held: ExitStack, out_dir: str | os.PathLike[str], pipes: Any) -> int | None:
    """A training entrypoint's start: hold the trainer lock of ``out_dir`` in ``held`` for the whole
    run; when another trainer holds it, report that (Pipes and stderr) and return the exit code."""
    try:
        held.enter_context(trainer_lock(out_dir))
    except TrainerLockBusy as e:
        pipes.log.error(str(e))
        print(f"error: {e}", file=sys.stderr)
        return TrainerLockBusy.exit_code
    return None
