"""A process pool with a wall-clock deadline per task: no input can hang a batch.

Each worker is a plain ``python -m mimo.verifiers.deadline_pool`` subprocess (no fork of the
caller, no re-import of its ``__main__``: safe from threaded callers and bare scripts alike) that
runs one task at a time on its main thread, so libraries that time out with ``signal.alarm``, like
Math-Verify, work. A worker that passes its task's deadline is killed and replaced; one that dies
is replaced and its task reported as an error, never as a result.

Functions are named ``"package.module:function"``; payloads and results are pickled over a
socketpair, between the caller and its own child only.
"""

from __future__ import annotations

import importlib
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Self

OK, TIMEOUT, ERROR = "ok", "timeout", "error"
DEPTH = 16  # most tasks sent ahead to one worker, so it never waits on the parent between tasks
POLL_S = 0.02  # how often the parent collects results (deadlines and deaths wake it at once)
_REPO_ROOT = str(Path(__file__).resolve().parents[2])


def _resolve(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def _worker_main(fd: int, fn_name: str, init_name: str) -> None:
    conn = Connection(fd)
    if init_name:
        _resolve(init_name)()
    fn = _resolve(fn_name)
    conn.send(("ready", None, None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, payload = msg
        try:
            reply = (idx, True, fn(payload), time.monotonic())
        except BaseException as e:  # noqa: BLE001 - reported to the parent as this task's error
            reply = (idx, False, f"{type(e).__name__}: {e}"[:500], time.monotonic())
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return


@dataclass
class _Worker:
    proc: subprocess.Popen
    conn: Connection
    pidfd: int
    ready: bool = False
    tasks: deque = field(default_factory=deque)  # sent, in order; the head is running
    deadline: float = 0.0  # of the head task


class DeadlinePool:
    """``workers`` processes running ``fn(payload)`` with a per-task wall-clock deadline."""

    def __init__(self, fn: str, workers: int = 2, initializer: str = "", start_timeout_s: float = 120.0):
        self._fn, self._init = fn, initializer
        self._start_timeout_s = start_timeout_s
        self._workers = [self._spawn() for _ in range(max(1, workers))]
        self._lock = threading.Lock()  # one map at a time: callers from several threads queue here
        self._task_s = POLL_S  # running estimate of one task's duration
        self.restarts = 0

    def _spawn(self) -> _Worker:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO_ROOT, env.get("PYTHONPATH", "")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mimo.verifiers.deadline_pool", str(child.fileno()), self._fn, self._init],
            pass_fds=[child.fileno()], env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        child.close()
        return _Worker(proc, Connection(parent.detach()), os.pidfd_open(proc.pid))

    def _discard(self, w: _Worker) -> None:
        try:
            os.killpg(w.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        w.proc.wait()
        w.conn.close()
        os.close(w.pidfd)

    def _replace(self, i: int) -> None:
        self._discard(self._workers[i])
        self._workers[i] = self._spawn()
        self.restarts += 1

    def _await_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        for w in self._workers:
            while not w.ready:
                if not wait([w.conn, w.pidfd], timeout=max(0.0, deadline - time.monotonic())):
                    raise RuntimeError("worker did not start in time")
                try:
                    w.conn.recv()
                except (EOFError, OSError):
                    raise RuntimeError(f"worker failed to start (exit code {w.proc.wait()})") from None
                w.ready = True

    def map(self, payloads: Sequence[Any], timeout_s: float) -> list[tuple[str, Any]]:
        """``(OK, result)``, ``(TIMEOUT, None)`` or ``(ERROR, message)`` per payload, in order.

        Tasks are dealt round-robin, enough per worker to last one poll interval (at most ``DEPTH``,
        fewer near the end of a batch, so it ends balanced); only the running one (the oldest) has a deadline, which starts when the one
        before it finished. Tasks queued behind a killed worker are re-sent, never failed.
        """
        with self._lock:
            return self._map(payloads, timeout_s)

    def _map(self, payloads: Sequence[Any], timeout_s: float) -> list[tuple[str, Any]]:
        results: list[tuple[str, Any] | None] = [None] * len(payloads)
        todo = deque(range(len(payloads)))

        def fail_head(i: int, outcome: tuple[str, Any]) -> None:
            w = self._workers[i]
            results[w.tasks.popleft()] = outcome
            todo.extendleft(reversed(w.tasks))
            w.tasks.clear()
            self._replace(i)

        while todo or any(w.tasks for w in self._workers):
            self._await_ready()
            in_flight = sum(len(w.tasks) for w in self._workers)
            # enough queued to cover one poll interval, few enough that batches end balanced
            share = min(max(2, math.ceil(POLL_S / self._task_s) + 2), DEPTH,
                        -(-(len(todo) + in_flight) // len(self._workers)))
            progress = True
            while todo and progress:  # round-robin, one task per worker per round
                progress = False
                for i, w in enumerate(self._workers):
                    if not todo or len(w.tasks) >= share:
                        continue
                    idx = todo.popleft()
                    try:
                        w.conn.send((idx, payloads[idx]))
                    except (OSError, EOFError, ValueError) as e:
                        w.tasks.appendleft(idx)
                        fail_head(i, (ERROR, f"could not send the task to a worker: {e}"))
                        continue
                    w.tasks.append(idx)
                    progress = True
                    if len(w.tasks) == 1:
                        w.deadline = time.monotonic() + timeout_s
            busy = [w for w in self._workers if w.tasks]
            if not busy:
                continue
            # Sleep until the next deadline, a worker's death, or the next poll; results are drained
            # in bulk (waking once per result costs the busy cores more than it saves).
            timeout = max(0.0, min(min(w.deadline for w in busy) - time.monotonic(), POLL_S))
            dead = set(wait([w.pidfd for w in busy], timeout=timeout))
            for i, w in enumerate(self._workers):
                if not w.tasks:
                    continue
                try:
                    while w.tasks and w.conn.poll():
                        got, ok, value, finished = w.conn.recv()
                        if got != w.tasks[0]:
                            raise OSError("worker answered out of order")
                        w.tasks.popleft()
                        results[got] = (OK, value) if ok else (ERROR, value)
                        took = max(1e-4, finished - (w.deadline - timeout_s))
                        self._task_s = 0.9 * self._task_s + 0.1 * took
                        w.deadline = finished + timeout_s  # the next task started when this one ended
                except EOFError:
                    fail_head(i, (ERROR, f"worker died (exit code {w.proc.wait()})"))
                    continue
                except OSError as e:
                    fail_head(i, (ERROR, f"worker failed: {e}"))
                    continue
                if not w.tasks:
                    continue
                if w.pidfd in dead:
                    fail_head(i, (ERROR, f"worker died (exit code {w.proc.wait()})"))
                elif time.monotonic() >= w.deadline:
                    fail_head(i, (TIMEOUT, None))
        return [r if r is not None else (ERROR, "not run") for r in results]

    def close(self) -> None:
        """Stop every worker."""
        for w in self._workers:
            try:
                w.conn.send(None)
            except (OSError, EOFError, ValueError):
                pass
        for w in self._workers:
            try:
                w.proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
            self._discard(w)
        self._workers = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
