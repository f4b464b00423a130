"""vLLM as a per-sequence (streaming) generator for the rollout engine (optional extra).

:class:`VLLMStreamingGenerator` drives the ``LLMEngine`` of a :class:`VLLMGenerator` directly:
:meth:`submit` adds a request (``n`` samples; vLLM's continuous batching schedules every sequence
on its own), a stepping thread calls ``engine.step()`` while requests are unfinished and calls
back the moment a request finishes, :meth:`abort` calls ``engine.abort_request`` (early
termination frees the slots at once), :meth:`paused` holds the stepping thread (engine calls are
made under one lock), and :meth:`update_weights` loads new policy weights between two steps
(:meth:`VLLMGenerator.load_weights`: ``collective_rpc`` + prefix-cache reset). This is the GPU
counterpart of :class:`~mimo.generate.inflight_backend.InflightTransformersGenerator`; the engine
picks it up through ``submit``/``abort``/``paused``.

A request with ``n`` samples becomes ``n`` engine requests with ``n=1`` (sample ``i`` seeded
``seed + i``, as the other backends do; greedy: one, copied), so every sequence is reported the
moment it ends (``sequence_seconds``, ``on_sequence_finished``) and aborted on its own. Sampling
parameters may differ per request (vLLM applies them per request).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mimo.generate.base import GenerationRequest, GenerationResult
from mimo.generate.streaming import StreamingCore
from mimo.generate.vllm_backend import VLLMGenerator, _to_result

OnDone = Callable[[GenerationResult, float], None]
IDLE_WAIT_S = 0.05


@dataclass
class _Pending:
    request: GenerationRequest
    on_done: OnDone
    submitted_at: float
    rows: int
    outputs: dict[int, tuple[Any, float]] = field(default_factory=dict)


class VLLMStreamingGenerator(StreamingCore, VLLMGenerator):
    """vLLM with ``submit``/``abort``/``paused`` (module docstring); ``max_sequences`` is vLLM's
    ``max_num_seqs`` and the rollout engine's slot capacity."""

    backend = "vllm-streaming"

    def __init__(self, model: str, *, max_sequences: int = 256, **kwargs: Any) -> None:
        super().__init__(model, max_num_seqs=max_sequences, **kwargs)
        self.max_sequences = max_sequences
        self.engine = self.llm.llm_engine
        self._pending: dict[str, _Pending] = {}
        self._next = 0
        self._start_streaming(self._step_loop, "vllm")

    # ------------------------------------------------------------------ streaming API
    def submit(self, request: GenerationRequest, on_done: OnDone) -> str:
        """Add ``request``'s sequences to the engine; ``on_done(result, finished_at)`` fires when the
        last one ends. Returns the handle for :meth:`abort`."""
        prompt = {"prompt_token_ids": self.encode_chat(request.messages)}
        p = request.params
        rows = 1 if p.temperature == 0 else p.n
        with self._cond:
            self._next += 1
            handle = f"r{self._next}"
            self._pending[handle] = _Pending(request, on_done, time.perf_counter(), rows)
        try:
            with self._step_lock:
                for i in range(rows):
                    one = replace(p, n=1, seed=None if p.seed is None else p.seed + i)
                    self.engine.add_request(f"{handle}#{i}", prompt, self.to_vllm_params(one))
        except Exception:
            self.abort(handle)
            raise
        with self._cond:
            self._cond.notify_all()
        return handle

    def abort(self, handle: str) -> bool:
        """Abort a request's unfinished sequences (its callback never fires); False when it ended."""
        with self._cond:
            pending = self._pending.pop(handle, None)
            if pending is None:
                return False
        with self._step_lock:
            self.engine.abort_request([f"{handle}#{i}" for i in range(pending.rows) if i not in pending.outputs])
        return True

    def _apply_weights(self, state_dict: dict[str, Any]) -> None:
        self.load_weights(state_dict)

    @property
    def running_sequences(self) -> int:
        with self._cond:
            return sum(p.rows - len(p.outputs) for p in self._pending.values())

    def close(self) -> None:
        """Stop the threads, then drop the engine."""
        self._stop_streaming()
        VLLMGenerator.close(self)

    # ------------------------------------------------------------------ threads
    def _step_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._pending:
                    self._cond.wait()
                if self._stop:
                    return
            with self._step_lock:
                try:
                    outputs = self.engine.step() if self.engine.has_unfinished_requests() else []
                except Exception as e:  # noqa: BLE001 - fail what is in flight, keep serving
                    self._fail_all(f"{type(e).__name__}: {e}")
                    continue
            if not outputs:
                time.sleep(IDLE_WAIT_S)  # requests just added or aborted: let the engine catch up
            now = time.perf_counter()
            for out in outputs:
                if not out.finished:
                    continue
                handle, _, idx = out.request_id.partition("#")
                with self._cond:
                    pending = self._pending.get(handle)
                    if pending is None:
                        continue  # aborted
                    pending.outputs[int(idx)] = (out, now)
                    complete = len(pending.outputs) == pending.rows
                    if complete:
                        del self._pending[handle]
                self._deliveries.put(("seq", None))
                if complete:
                    self._deliveries.put(("done", pending))

    def _fail_all(self, error: str) -> None:
        with self._cond:
            failed, self._pending = list(self._pending.values()), {}
        for p in failed:
            self._deliveries.put(("error", (p, error)))

    @staticmethod
    def _result(pending: _Pending, now: float) -> GenerationResult:
        """One result of the request's sequences (each an ``n=1`` engine output), in sample order."""
        latency = now - pending.submitted_at
        completions, seconds = [], []
        for i in range(pending.rows):
            out, ended = pending.outputs[i]
            one = _to_result(pending.request, out, latency)
            if one.error is not None:
                return one
            completions += one.completions
            seconds.append(ended - pending.submitted_at)
        n = pending.request.params.n
        if pending.rows == 1 and n > 1:  # greedy: one sequence, n copies
            completions, seconds = completions * n, seconds * n
        return GenerationResult(pending.request.request_id, completions, None, 1, latency, seconds)
