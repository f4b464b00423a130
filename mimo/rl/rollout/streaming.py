"""Per-sequence generation for the rollout engine over a streaming generator (continuous batching).

:class:`StreamingGenerationWorkers` has the interface of
:class:`~mimo.rl.rollout.generation.GenerationWorkers` (launch queue, ``gate``, ``drop``,
``busy_s``) but submits each launched task to a generator that schedules sequences one by one
(:class:`~mimo.generate.continuous_backend.ContinuousTransformersGenerator`; vLLM's engine on
GPUs): a task starts as soon as ``capacity`` has room for its ``n`` sequences, its group is handed
on the moment its last sequence ends, and :meth:`abort` cancels the running tasks of a step (early
termination) instead of waiting for them.

Accounting (MiMo counts a generation slot that has no useful sequence as idle): ``busy_s`` is the
sequence-seconds of the finished tasks divided by ``capacity`` (a sequence occupies one slot from
submission to its end), so a long tail that leaves most slots empty is idle time, and sequences
aborted by early termination never count as busy. ``threads`` is 1: one generator of ``capacity``
slots.

``sync_post``: the task's ``post`` callback runs while the generator is paused (a rollout worker
that scores its own samples cannot decode meanwhile: the "+continuous rollout" row without async
reward).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from mimo.generate.base import GenerationRequest, GenerationResult, SamplingParams
from mimo.rl.rollout.generation import GATE_POLL_S, Gate, Launched, LaunchQueue


def is_streaming(generator: Any) -> bool:
    """Whether ``generator`` schedules sequences one by one (``submit``/``abort``)."""
    return all(callable(getattr(generator, name, None)) for name in ("submit", "abort", "paused"))


class StreamingGenerationWorkers(LaunchQueue):
    """Launch queue -> per-task ``submit`` to a streaming generator (module docstring)."""

    threads = 1

    def __init__(self, generator: Any, sampling: SamplingParams, capacity: int | None = None) -> None:
        super().__init__()
        self.generator, self.sampling = generator, sampling
        self.capacity = capacity or generator.max_sequences
        self.gate: Gate | None = None
        self.sync_post = False
        self._stop = False
        self._running: dict[int, tuple[str, int]] = {}  # launch index -> (the generator's handle, epoch)
        self._busy: list[tuple[float, float, int, float]] = []  # (start, end, epoch, sequence-seconds)
        self._in_flight = 0  # sequences submitted, not yet ended or aborted
        generator.on_sequence_finished = self._slot_freed
        self._thread = threading.Thread(target=self._dispatch, daemon=True, name="rollout-stream")
        self._thread.start()

    # ------------------------------------------------------------------ queue: launch/drop/queued (LaunchQueue)
    def abort(self, epoch: int) -> int:
        """Cancel the running tasks of ``epoch`` (their samples are never returned); how many."""
        with self._cond:
            mine = [(i, h) for i, (h, e) in self._running.items() if e == epoch]
        aborted = 0
        for index, handle in mine:
            with self._cond:
                if index not in self._running:
                    continue  # finished meanwhile
            if not self.generator.abort(handle):
                continue  # its last sequence ended meanwhile: the result is on its way
            aborted += 1
            with self._cond:
                self._running.pop(index, None)
                self._in_flight = self.generator.running_sequences
                self._cond.notify_all()
        return aborted

    def busy_s(self, start: float, end: float, epoch: int | None = None) -> float:
        """Slot-seconds of useful generation inside ``[start, end]`` divided by ``capacity``:
        finished tasks (of ``epoch`` when given), each sequence from submission to its end."""
        with self._cond:
            rows = [r for r in self._busy if epoch is None or r[2] == epoch]
        total = 0.0
        for a, b, _, seq_s in rows:
            inside = max(0.0, min(b, end) - max(a, start))
            total += seq_s * (inside / (b - a)) if b > a else 0.0
        return total / self.capacity

    def wait_idle(self) -> float:
        """Nothing to wait for: running tasks are aborted, not waited for (kept for the interface)."""
        return 0.0

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop dispatching and abort whatever still runs (the generator itself stays open)."""
        with self._cond:
            self._stop = True
            self._queue.clear()
            handles = [h for h, _ in self._running.values()]
            self._running.clear()
            self._cond.notify_all()
        for h in handles:
            self.generator.abort(h)
        self._thread.join(timeout=timeout_s)

    # ------------------------------------------------------------------ internals
    def _slot_freed(self) -> None:
        with self._cond:
            self._in_flight = self.generator.running_sequences
            self._cond.notify_all()

    def _room(self, n: int) -> bool:
        return self._in_flight == 0 or self._in_flight + n <= self.capacity

    def _take(self) -> Launched | None:
        with self._cond:
            while True:
                if self._stop:
                    return None
                if self._queue and self._room(self._queue[0].task.num_generations):
                    head = self._queue[0]
                    queued = sum(x.epoch == head.epoch for x in self._queue)
                    if self.gate is None or self.gate(head.epoch, queued):
                        item = self._queue.popleft()
                        self._in_flight += item.task.num_generations
                        return item
                self._cond.wait(timeout=GATE_POLL_S)

    def _dispatch(self) -> None:
        while True:
            item = self._take()
            if item is None:
                return
            task = item.task
            seed = task.seed if task.seed is not None else self.sampling.seed
            request = GenerationRequest(task.messages, replace(self.sampling, n=task.num_generations, seed=seed),
                                        f"{task.launch_index}")
            submitted = time.perf_counter()

            def done(result: GenerationResult, end: float, item: Launched = item, t0: float = submitted) -> None:
                self._finished(item, result, t0, end)

            try:
                with self._cond:  # registered before the result can be handled (_finished takes this lock)
                    self._running[task.launch_index] = (self.generator.submit(request, done), item.epoch)
            except Exception as e:  # noqa: BLE001 - a request the backend refuses fails this task only
                with self._cond:
                    self._in_flight = self.generator.running_sequences
                now = time.perf_counter()
                self._post(item, GenerationResult(request.request_id, [], f"{type(e).__name__}: {e}"), now, now)

    def _finished(self, item: Launched, result: GenerationResult, start: float, end: float) -> None:
        with self._cond:
            if self._running.pop(item.task.launch_index, None) is None:
                return  # aborted
            self._busy.append((start, end, item.epoch, sum(result.sequence_seconds)))
            self._in_flight = self.generator.running_sequences
            self._cond.notify_all()
        self._post(item, result, start, end)

    def _post(self, item: Launched, result: GenerationResult, start: float, end: float) -> None:
        try:
            if self.sync_post:
                with self.generator.paused():
                    item.post([item], [result], start, end)
            else:
                item.post([item], [result], start, end)
        except Exception:  # noqa: BLE001 - never kill the collector thread
            pass
