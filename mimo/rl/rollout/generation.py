"""Background generation threads over a batch-synchronous :class:`~mimo.generate.base.Generator`.

Each thread takes up to ``micro_batch`` launched tasks from the shared launch queue, calls
``generate_batch`` (one request per task, ``n = num_generations``) and hands the results to the
task's ``post`` callback (on the generation thread: a synchronous reward therefore blocks it).
A running call cannot be interrupted; :meth:`GenerationWorkers.drop` removes launched tasks that
have not started.
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


@dataclass
class Launched:
    """A launched task, its launch time and where its results go."""

    task: RolloutTask
    launched_at: float
    post: Post
    epoch: int


class GenerationWorkers:
    """``threads`` generation threads sharing one FIFO launch queue."""

    def __init__(self, generator: Generator, sampling: SamplingParams, threads: int = 1,
                 micro_batch: int = 4) -> None:
        self.generator, self.sampling, self.micro_batch = generator, sampling, micro_batch
        self._queue: deque[Launched] = deque()
        self._cond = threading.Condition()
        self._stop = False
        self._busy: list[tuple[float, float]] = []
        self._running: dict[int, float] = {}  # thread index -> start of its current call
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True, name=f"rollout-gen-{i}")
                         for i in range(threads)]
        for t in self._threads:
            t.start()

    @property
    def threads(self) -> int:
        return len(self._threads)

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

    def busy_s(self, start: float, end: float) -> float:
        """Generation time (summed over threads) inside ``[start, end]``, running calls included."""
        with self._cond:
            intervals = list(self._busy) + [(s, end) for s in self._running.values()]
        return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals)

    def _take(self, i: int) -> list[Launched]:
        with self._cond:
            while not self._queue and not self._stop:
                self._cond.wait()
            if self._stop:
                return []
            batch = [self._queue.popleft() for _ in range(min(self.micro_batch, len(self._queue)))]
            self._running[i] = time.perf_counter()
            return batch

    def _run(self, i: int) -> None:
        while True:
            batch = self._take(i)
            if not batch:
                return
            requests = [GenerationRequest(x.task.messages, replace(self.sampling, n=x.task.num_generations),
                                          f"{x.task.launch_index}") for x in batch]
            start = self._running[i]
            try:
                results = self.generator.generate_batch(requests)
            except Exception as e:  # noqa: BLE001 - a backend failure fails these tasks, not the thread
                results = [GenerationResult(r.request_id, [], f"{type(e).__name__}: {e}") for r in requests]
            end = time.perf_counter()
            with self._cond:
                self._busy.append((start, end))
                self._running.pop(i, None)
            by_post: dict[int, tuple[Post, list[int]]] = {}
            for j, x in enumerate(batch):
                by_post.setdefault(id(x.post), (x.post, []))[1].append(j)
            for post, idx in by_post.values():
                try:
                    post([batch[j] for j in idx], [results[j] for j in idx], start, end)
                except Exception:  # noqa: BLE001 - never kill the generation thread
                    pass

    def close(self, timeout_s: float = 60.0) -> None:
        """Stop the threads after their current call."""
        with self._cond:
            self._stop = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout=timeout_s)
