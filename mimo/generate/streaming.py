"""What the per-sequence (streaming) backends share: the step lock, result delivery, batch calls.

A streaming backend (:class:`~mimo.generate.inflight_backend.InflightTransformersGenerator`,
:class:`~mimo.generate.vllm_streaming.VLLMStreamingGenerator`) runs one *step* thread that
advances its batch under ``_step_lock`` and posts events to a delivery thread, so callbacks
never run while the lock is held: ``("seq", None)`` when one sequence ends (a slot is free),
``("done", pending)`` when a request's last sequence ends (``_result(pending, now)`` builds its
result) and ``("error", (pending, message))``. ``pending`` has ``request``, ``on_done`` and
``submitted_at``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from mimo.generate.base import GenerationRequest, GenerationResult, ProgressFn, generate_via_submit


class StreamingCore:
    """Mixin: ``paused``, ``update_weights``, ``generate_batch``, ``close`` and the delivery thread.

    Subclasses call :meth:`_start_streaming` with their step loop, and implement
    ``_apply_weights(state_dict)`` and ``_result(pending, now)``.
    """

    on_sequence_finished: Callable[[], None] | None

    def _start_streaming(self, step_loop: Callable[[], None], name: str) -> None:
        self.on_sequence_finished = None
        self._step_lock = threading.Lock()
        self._cond = threading.Condition()
        self._stop = False
        self._deliveries: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=step_loop, daemon=True, name=f"{name}-step"),
                         threading.Thread(target=self._deliver_loop, daemon=True, name=f"{name}-deliver")]
        for t in self._threads:
            t.start()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the step thread between two steps (e.g. while the policy is updated)."""
        with self._step_lock:
            yield

    def update_weights(self, state_dict: dict[str, Any]) -> None:
        """Load new weights between two steps (running sequences keep their cache)."""
        with self._step_lock:
            self._apply_weights(state_dict)

    def _apply_weights(self, state_dict: dict[str, Any]) -> None:
        raise NotImplementedError

    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """Every request through ``submit``; results in request order, refusals as error results."""
        return generate_via_submit(self, requests, progress)

    def _stop_streaming(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._deliveries.put(None)
        for t in self._threads:
            t.join(timeout=30)

    def _result(self, pending: Any, now: float) -> GenerationResult:
        raise NotImplementedError

    def _deliver_loop(self) -> None:
        while True:
            item = self._deliveries.get()
            if item is None:
                return
            kind, payload = item
            now = time.perf_counter()
            try:
                if kind == "seq":
                    if self.on_sequence_finished is not None:
                        self.on_sequence_finished()
                elif kind == "done":
                    payload.on_done(self._result(payload, now), now)
                else:
                    pending, error = payload
                    pending.on_done(GenerationResult(pending.request.request_id, [], error, 1,
                                                     now - pending.submitted_at), now)
            except Exception:  # noqa: BLE001 - a failing callback must not stop delivery
                pass
