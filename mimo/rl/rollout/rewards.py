"""Rewards for the rollout engine: a :class:`RewardFn` run in worker processes with a per-group deadline.

:class:`RewardPool` owns ``workers`` threads, each driving a one-process
:class:`~mimo.verifiers.deadline_pool.DeadlinePool`: a group is scored by one worker process; a
worker that passes the group's deadline is killed and replaced (status ``reward_timeout``), one
that dies is replaced (``reward_error``). Either way the group's samples are masked (reward None)
and counted as ``reward_failures``, never scored 0, and the engine goes on.

The deadline of a group is the pool's ``timeout_s`` plus what the reward function says the group
may legitimately take (:meth:`RewardFn.budget_s`): for code, every test of every program running to
its own time limit. Slow tests are judged by their per-test limits (a ``timeout`` status for that
test), so only a hung or crashed worker masks a group.
"""

from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mimo.rl.rollout.types import REWARD_ERROR, REWARD_TIMEOUT

Score = tuple[float, str]  # (reward, status)


class RewardFn(ABC):
    """Scores the responses of one group; must be picklable (it is sent to worker processes).

    ``initializer`` names a ``"module:function"`` run once at worker start (e.g. warm Math-Verify).
    """

    initializer: str = ""

    @abstractmethod
    def score(self, domain: str, payload: dict[str, Any], responses: Sequence[str]) -> list[Score]:
        """``(reward, status)`` per response, in order."""

    def budget_s(self, domain: str, payload: dict[str, Any], responses: int) -> float:
        """Seconds scoring this group may take beyond the pool's fixed margin (default none)."""
        return 0.0


class MiMoRewardFn(RewardFn):
    """The project's rule-based rewards: Math-Verify for math, the code sandbox for code.

    Math calls :func:`~mimo.verifiers.math.verify_response` directly (the worker *is* the process
    with the deadline); code calls :func:`~mimo.verifiers.code.score_code` with ``scheme``.
    """

    initializer = "mimo.verifiers.math:_init_worker"

    def __init__(self, code_scheme: str = "vanilla", allow_weak_isolation: bool = False,
                 code_threads: int = 1, judge_url: str | None = None, hang_s: float = 0.0) -> None:
        from mimo.verifiers.code import SCHEMES

        if code_scheme not in SCHEMES:
            raise ValueError(f"unknown scheme {code_scheme!r}")
        self.code_scheme, self.allow_weak_isolation = code_scheme, allow_weak_isolation
        self.code_threads, self.judge_url = code_threads, judge_url
        self.hang_s = hang_s  # test hook: every call first sleeps this long (a hung worker)

    def budget_s(self, domain: str, payload: dict[str, Any], responses: int) -> float:
        """Code: every test of every response at its own time limit, ``code_threads`` programs at a
        time (locally or on the judge service); math: none (one Math-Verify call per response)."""
        if domain != "code":
            return 0.0
        from mimo.verifiers.code import group_budget_s

        return group_budget_s(payload, responses, self.code_threads)

    def score(self, domain: str, payload: dict[str, Any], responses: Sequence[str]) -> list[Score]:
        if self.hang_s:
            import time

            time.sleep(self.hang_s)
        if domain == "math":
            from mimo.verifiers.math import verify_response

            out = []
            for r in responses:
                status, _ = verify_response((r, str(payload["answer"])))
                out.append((1.0 if status == "correct" else 0.0, status))
            return out
        if domain == "code":
            import os

            from mimo.verifiers.code import score_code

            items = [{**payload, "id": i, "response": r} for i, r in enumerate(responses)]
            scores = score_code(items, scheme=self.code_scheme, workers=self.code_threads,
                                allow_weak_isolation=self.allow_weak_isolation, judge_url=self.judge_url,
                                judge_token=os.environ.get("MIMO_JUDGE_TOKEN") if self.judge_url else None)
            return [(s.reward, s.status) for s in scores]
        raise ValueError(f"unknown domain {domain!r}")


def score_in_worker(job: tuple[RewardFn, str, dict[str, Any], list[str]]) -> list[Score]:
    """Worker-process entry point (``DeadlinePool`` function)."""
    fn, domain, payload, responses = job
    out = [(float(r), str(s)) for r, s in fn.score(domain, payload, responses)]
    if len(out) != len(responses):
        raise ValueError(f"reward returned {len(out)} scores for {len(responses)} responses")
    return out


@dataclass
class RewardOutcome:
    """Scores of one group (None entries = masked) and the worker's busy interval."""

    scores: list[Score | None]
    started: float
    finished: float
    failure: str = ""  # "", REWARD_TIMEOUT or REWARD_ERROR (then every score is None)
    detail: str = ""


Callback = Callable[[Any, RewardOutcome], None]


class RewardPool:
    """``workers`` reward processes scoring groups concurrently (see the module docstring)."""

    def __init__(self, reward_fn: RewardFn, workers: int = 2, timeout_s: float = 60.0) -> None:
        from mimo.verifiers.deadline_pool import DeadlinePool

        self.reward_fn, self.timeout_s = reward_fn, timeout_s
        self._jobs: queue.Queue = queue.Queue()
        self._pools = [DeadlinePool("mimo.rl.rollout.rewards:score_in_worker", 1, reward_fn.initializer)
                       for _ in range(max(1, workers))]
        self._busy: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(p,), daemon=True,
                                          name=f"reward-{i}") for i, p in enumerate(self._pools)]
        for t in self._threads:
            t.start()

    @property
    def workers(self) -> int:
        return len(self._pools)

    @property
    def restarts(self) -> int:
        """Worker processes killed or replaced so far (hangs and crashes)."""
        return sum(p.restarts for p in self._pools)

    def warm_up(self) -> None:
        """Start every worker process now (so start-up is not charged to the first batch)."""
        for p in self._pools:
            p._await_ready()  # noqa: SLF001 - the pool starts workers lazily otherwise

    def submit(self, key: Any, domain: str, payload: dict[str, Any], responses: Sequence[str],
               callback: Callback, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Score asynchronously; ``callback(key, outcome)`` runs on a pool thread.
        Jobs still queued when ``cancelled()`` turns True are skipped (no callback)."""
        self._jobs.put((key, domain, dict(payload), list(responses), callback, cancelled))

    def score_many(self, jobs: Sequence[tuple[str, dict[str, Any], Sequence[str]]]) -> list[RewardOutcome]:
        """Score ``(domain, payload, responses)`` jobs on all workers; blocks until all are done."""
        done: list[RewardOutcome | None] = [None] * len(jobs)
        left = threading.Semaphore(0)

        def cb(i: int, out: RewardOutcome) -> None:
            done[i] = out
            left.release()

        for i, (domain, payload, responses) in enumerate(jobs):
            self.submit(i, domain, payload, responses, cb)
        for _ in jobs:
            left.acquire()
        return [d for d in done if d is not None]

    def deadline_s(self, domain: str, payload: dict[str, Any], responses: int) -> float:
        """The deadline of one group: ``timeout_s`` plus the reward function's budget for it."""
        try:
            extra = float(self.reward_fn.budget_s(domain, payload, responses))
        except Exception:  # noqa: BLE001 - a budget that cannot be computed falls back to the margin
            extra = 0.0
        return self.timeout_s + max(0.0, extra)

    def busy_intervals(self) -> list[tuple[float, float]]:
        """``(start, end)`` of every scored group so far."""
        with self._lock:
            return list(self._busy)

    def _run(self, pool: Any) -> None:
        from mimo.verifiers.deadline_pool import OK, TIMEOUT

        while True:
            job = self._jobs.get()
            if job is None:
                return
            key, domain, payload, responses, callback, cancelled = job
            if cancelled():
                continue
            start = time.perf_counter()
            deadline = self.deadline_s(domain, payload, len(responses))
            if not responses:
                kind, value = OK, []
            else:
                try:
                    kind, value = pool.map([(self.reward_fn, domain, payload, responses)], deadline)[0]
                except Exception as e:  # noqa: BLE001 - the pool itself failed: mask, never stall
                    kind, value = "error", f"{type(e).__name__}: {e}"
            end = time.perf_counter()
            with self._lock:
                self._busy.append((start, end))
            if kind == OK:
                out = RewardOutcome(list(value), start, end)
            else:
                failure = REWARD_TIMEOUT if kind == TIMEOUT else REWARD_ERROR
                detail = f"deadline of {deadline:g}s" if kind == TIMEOUT else str(value)
                out = RewardOutcome([None] * len(responses), start, end, failure, detail)
            try:
                callback(key, out)
            except Exception:  # noqa: BLE001 - a failing callback must not kill the worker thread
                pass

    def close(self) -> None:
        """Stop the threads (after their current group) and the worker processes."""
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join(timeout=self.timeout_s + 5)
        for p in self._pools:
            p.close()
