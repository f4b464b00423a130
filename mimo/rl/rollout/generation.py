"""Background generation threads over a batch-synchronous :class:`~mimo.generate.base.Generator`.

Each thread takes up to ``micro_batch`` launched tasks from the shared launch queue, calls
``generate_batch`` (one request per task, ``n = num_generations``) and hands the results to the
task's ``post`` callback (on the generation thread: a synchronous reward therefore blocks it).
A running call cannot be interrupted; :meth:`GenerationWorkers.drop` removes launched tasks that
have not started; ``gate`` (optional) can hold a call back until pending results decide whether
it is needed. Each call is recorded with the epoch (``collect``/``validate`` call) of its tasks,
so a step can count only its own finished calls as useful generation time: a call abandoned by
early termination counts as idle, as in MiMo's accounting. A task's ``seed`` (when set) seeds its
request, so the same task yields the same samples whatever else is in the batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from mimo.generate.base import GenerationRequest, GenerationResult, Generator, SamplingParams
from mimo.rl.rollout.types import RolloutTask

Post = Callable[[list["Launched"], list[GenerationResult], float, float], None]
Gate = Callable[[int, int], bool]  # (epoch, its not-started tasks) -> may a call start now?
GATE_POLL_S = 0.02


@dataclass
class Launched:
    """A launched task, its launch time and where its results go."""

    task: RolloutTask
    launched_at: float
    post: Post
    epoch: int


class LaunchQueue:
    """The FIFO queue of launched tasks that have not started, shared by both dispatchers."""

    def __init__(self) -> None:
        self._queue: deque[Launched] = deque()
        self._cond = threading.Condition()

    def launch(self, items: Sequence[Launched]) -> None:
        """Append tasks to the launch queue (FIFO)."""
        with self._cond:
            self._queue.extend(items)
            self._cond.notify_all()

    def drop(self, epoch: int) -> list[Launched]:
        """Remove and return the not-started tasks of ``epoch``."""
        with self._cond:
            mine = [x for x in self._queue if x.epoch == epoch]
            self._queue = deque(x for x in self._queue if x.epoch != epoch)
            return mine

    def queued(self, epoch: int) -> int:
        """Launched tasks of ``epoch`` that have not started."""
        with self._cond:
            return sum(x.epoch == epoch for x in self._queue)

    def drop_latest(self, epoch: int, k: int) -> list[Launched]:
        """Remove and return up to ``k`` not-started tasks of ``epoch``, the latest launched first."""
        with self._cond:
            mine = [x for x in self._queue if x.epoch == epoch][-k:] if k > 0 else []
            gone = {id(x) for x in mine}
            self._queue = deque(x for x in self._queue if id(x) not in gone)
            return mine


class GenerationWorkers(LaunchQueue):
    """``threads`` generation threads sharing one FIFO launch queue."""

    def __init__(self, generator: Generator, sampling: SamplingParams, threads: int = 1,
                 micro_batch: int = 4) -> None:
        super().__init__()
        self.generator, self.sampling, self.micro_batch = generator, sampling, micro_batch
        self._stop = False
        self._busy: list[tuple[float, float, int]] = []  # (start, end, epoch) of finished calls
        self._running: dict[int, tuple[float, int]] = {}  # thread index -> (start, epoch) of its call
        #: asked before a call starts (continuous engine: is the queued work still predicted needed?)
        self.gate: Gate | None = None
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"rollout-gen-{i}")
                         for i in range(threads)]
        for t in self._threads:
            t.start()

    @property
    def threads(self) -> int:
        return len(self._threads)

    def busy_s(self, start: float, end: float, epoch: int | None = None) -> float:
        """Generation time (summed over threads) inside ``[start, end]``: every call, running ones
        included, or (``epoch`` given) only the finished calls of that epoch."""
        with self._cond:
            if epoch is None:
                intervals = [(a, b) for a, b, _ in self._busy] + [(a, end) for a, _ in self._running.values()]
            else:
                intervals = [(a, b) for a, b, e in self._busy if e == epoch]
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)

    def _params(self, task: RolloutTask) -> SamplingParams:
        seed = task.seed if task.seed is not None else self.sampling.seed
        return replace(self.sampling, n=task.num_generations, seed=seed)

    def _take(self, i: int) -> list[Launched]:
        with self._cond:
            while True:
                while not self._queue and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return []
                epoch = self._queue[0].epoch
                if self.gate is None or self.gate(epoch, sum(x.epoch == epoch for x in self._queue)):
                    break
                self._cond.wait(timeout=GATE_POLL_S)  # results pending: re-check soon
            batch = [self._queue.popleft() for _ in range(min(self.micro_batch, len(self._queue)))]
            self._running[i] = (time.perf_counter(), max(x.epoch for x in batch))
            return batch

    def _run(self, i: int) -> None:
        while True:
            batch = self._take(i)
            if not batch:
                return
            requests = [GenerationRequest(x.task.messages, self._params(x.task), f"{x.task.launch_index}")
                        for x in batch]
            start, epoch = self._running[i]
            try:
                results = self.generator.generate_batch(requests)
            except Exception as e:  # noqa: BLE001 - a backend failure fails these tasks, not the thread
                results = [GenerationResult(r.request_id, [], f"{type(e).__name__}: {e}") for r in requests]
            end = time.perf_counter()
            with self._cond:
                self._busy.append((start, end, epoch))
                self._running.pop(i, None)
                self._cond.notify_all()
            by_post: dict[int, tuple[Post, list[int]]] = {}
            for j, x in enumerate(batch):
                by_post.setdefault(id(x.post), (x.post, []))[1].append(j)
            for post, idx in by_post.values():
                try:
                    post([batch[j] for j in idx], [results[j] for j in idx], start, end)
                except Exception:  # noqa: BLE001 - never kill the generation thread
                    pass

    def wait_idle(self) -> float:
        """Block until no call is running (e.g. one abandoned by early termination); seconds waited."""
        t0 = time.perf_counter()
        with self._cond:
            while self._running and not self._stop:
                self._cond.wait(timeout=0.05)
        return time.perf_counter() - t0

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop the threads after their current call."""
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=timeout_s)
