"""In-flight batching on a local ``transformers`` model: per-sequence scheduling with abort.

:class:`InflightTransformersGenerator` keeps one running batch (left-padded ``DynamicCache``) and
a decode thread that, at every step, (1) drops the sequences of aborted requests, (2) admits
waiting requests while the batch has room (``max_sequences``): their prompts are prefilled and
their cache rows are merged into the running batch, (3) samples one token for every sequence and
(4) removes finished sequences, so a slot freed by a short sample is refilled at the next step.
A request's callback fires the moment its last sequence ends. This is what vLLM's engine does on
GPUs (``add_request`` / ``abort``), at the scale of this repository's CPU models.

Why not transformers' own ``ContinuousBatchingManager``: on CPU it attends with one dense masked
attention over the concatenated cache of the whole batch, so a decode step costs O(batch^2 x
context); with a full batch of 300-token rollouts it ran at about half the tokens/s of this
backend (py-spy profile, ad-hoc script: 63% of the time in ``sdpa_attention_forward``/``repeat_kv``). Here attention is
per row (``[batch, heads, 1, context]``), as in :class:`TransformersGenerator`.

Sampling, seeds, finish reasons and token accounting are those of
:class:`~mimo.generate.transformers_backend.TransformersGenerator` (the same per-sample
``torch.Generator`` seeded with ``seed + i``), so a seeded request yields the same samples whatever
else is in flight (up to float round-off of padded attention). ``temperature``/``top_p`` are fixed
when the generator is built (one sampling step for the whole batch); other values are refused
with a clear error. Streaming API: :meth:`submit`, :meth:`abort`, :meth:`paused`,
:meth:`update_weights`, ``running_sequences``; :meth:`generate_batch` is built on it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mimo.generate.base import Completion, GenerationRequest, GenerationResult, SamplingParams
from mimo.generate.streaming import StreamingCore
from mimo.generate.transformers_backend import TransformersGenerator, _choose, _sample_seed, _StopScanner

OnDone = Callable[[GenerationResult, float], None]


@dataclass
class _Request:
    handle: str
    request: GenerationRequest
    prompt: list[int]
    on_done: OnDone
    submitted_at: float
    rows: int
    finished: dict[int, tuple[Completion, float]] = field(default_factory=dict)


@dataclass
class _Live:
    """One sequence in the running batch."""

    req: _Request
    sample: int
    rng: Any
    scanner: _StopScanner
    generated: list[int] = field(default_factory=list)


class InflightTransformersGenerator(StreamingCore, TransformersGenerator):
    """A local causal LM decoded with in-flight batching (module docstring)."""

    backend = "transformers-inflight"

    def __init__(self, model: str, *, sampling: SamplingParams | None = None, max_sequences: int = 32,
                 **kwargs: Any) -> None:
        if kwargs.get("speculative_tokens"):
            raise ValueError("in-flight batching does not do speculative decoding")
        super().__init__(model, batch_size=max_sequences, **kwargs)
        self.sampling = sampling or SamplingParams()
        self.max_sequences = max_sequences
        self._waiting: deque[_Request] = deque()
        self._requests: dict[str, _Request] = {}
        self._aborted: set[str] = set()
        self._next = 0
        self._batch: _Batch | None = None
        self._start_streaming(self._decode_loop, "inflight")

    # ------------------------------------------------------------------ streaming API
    def check(self, params: SamplingParams) -> None:
        """Raise ``ValueError`` when ``params`` ask for other sampling than the generator's."""
        fixed = self.sampling
        if (params.temperature, params.top_p) != (fixed.temperature, fixed.top_p):
            raise ValueError(f"in-flight backend was built for temperature={fixed.temperature}, "
                             f"top_p={fixed.top_p}; got {params.temperature}, {params.top_p}")

    def submit(self, request: GenerationRequest, on_done: OnDone) -> str:
        """Queue ``request`` (``n`` sequences); ``on_done(result, finished_at)`` fires, on the
        delivery thread, once all have ended. Returns the handle for :meth:`abort`."""
        self.check(request.params)
        prompt = self.encode_chat(request.messages)
        rows = 1 if request.params.temperature == 0 else request.params.n
        if rows > self.max_sequences:
            raise ValueError(f"n={rows} exceeds max_sequences={self.max_sequences}")
        with self._cond:
            self._next += 1
            handle = f"r{self._next}"
            req = _Request(handle, request, prompt, on_done, time.perf_counter(), rows)
            self._requests[handle] = req
            self._waiting.append(req)
            self._cond.notify_all()
        return handle

    def abort(self, handle: str) -> bool:
        """Cancel a request (its callback never fires); False when it already finished."""
        with self._cond:
            req = self._requests.pop(handle, None)
            if req is None:
                return False
            if req in self._waiting:
                self._waiting.remove(req)
            else:
                self._aborted.add(handle)
            self._cond.notify_all()
        return True

    def _apply_weights(self, state_dict: dict[str, Any]) -> None:
        self.hf_model.load_state_dict(state_dict)

    @property
    def running_sequences(self) -> int:
        """Sequences submitted and not yet ended (waiting or decoding; aborted ones excluded)."""
        with self._cond:
            return sum(r.rows - len(r.finished) for r in self._requests.values())

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(max_sequences=self.max_sequences, temperature=self.sampling.temperature, top_p=self.sampling.top_p)
        return d

    def close(self) -> None:
        """Stop the decode and delivery threads (unfinished requests are dropped)."""
        self._stop_streaming()

    # ------------------------------------------------------------------ decode thread
    def _decode_loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._waiting and self._batch is None:
                    self._cond.wait()
                if self._stop:
                    return
            with self._step_lock:
                try:
                    self._step()
                except Exception as e:  # noqa: BLE001 - fail what is in flight, keep serving
                    self._fail_in_flight(f"{type(e).__name__}: {e}")

    def _step(self) -> None:
        batch = self._batch
        with self._cond:
            gone = self._aborted
            self._aborted = set()
            room = self.max_sequences - (len(batch.rows) if batch else 0) + sum(
                x.req.handle in gone for x in (batch.rows if batch else []))
            admit = []
            while self._waiting and (self._waiting[0].rows <= room or (batch is None and not admit)):
                req = self._waiting.popleft()
                admit.append(req)
                room -= req.rows
        if batch is not None and gone:
            batch.keep([i for i, x in enumerate(batch.rows) if x.req.handle not in gone])
        if admit:
            fresh = _Batch.prefill(self, admit)
            batch = fresh if batch is None or not batch.rows else batch.merge(fresh)
        if batch is None or not batch.rows:
            self._batch = None
            return
        self._batch = batch
        ended = batch.advance(self)
        for live in ended:
            self._sequence_ended(live)
        if not batch.rows:
            self._batch = None

    def _sequence_ended(self, live: _Live) -> None:
        req, now = live.req, time.perf_counter()
        ids = live.generated
        eos = self.eos_token_ids
        if ids and ids[-1] in eos:
            text, reason = live.scanner.final(self.tokenizer, ids[:-1], "stop")
        elif (cut := live.scanner.find(self.tokenizer, ids)) is not None:
            text, reason = cut, "stop"
        else:
            text, reason = live.scanner.final(self.tokenizer, ids, "length")
        completion = Completion(text, reason, len(ids), len(req.prompt), token_ids=tuple(ids))
        with self._cond:
            if self._requests.get(req.handle) is not req:
                return  # aborted meanwhile
            req.finished[live.sample] = (completion, now)
            complete = len(req.finished) == req.rows
            if complete:
                del self._requests[req.handle]
        self._deliveries.put(("seq", None))
        if complete:
            self._deliveries.put(("done", req))

    def _fail_in_flight(self, error: str) -> None:
        with self._cond:
            failed = [r for r in self._requests.values() if r not in self._waiting]
            for r in failed:
                del self._requests[r.handle]
        self._batch = None
        for r in failed:
            self._deliveries.put(("error", (r, error)))

    def _result(self, req: _Request, now: float) -> GenerationResult:
        order = sorted(req.finished)
        completions = [req.finished[s][0] for s in order]
        seconds = [req.finished[s][1] - req.submitted_at for s in order]
        if req.rows == 1 and req.request.params.n > 1:  # greedy: one row, n copies
            completions, seconds = completions * req.request.params.n, seconds * req.request.params.n
        return GenerationResult(req.request.request_id, completions, None, 1, now - req.submitted_at, seconds)


class _Batch:
    """The running batch: live rows, their left-padded cache and mask, and next-token logits."""

    def __init__(self, rows: list[_Live], cache: Any, mask: Any, last_pos: Any, logits: Any) -> None:
        self.rows, self.cache, self.mask, self.last_pos, self.logits = rows, cache, mask, last_pos, logits

    @classmethod
    def prefill(cls, gen: InflightTransformersGenerator, reqs: list[_Request]) -> _Batch:
        """Prefill each request's prompt once (left-padded) and copy its cache to its rows."""
        import torch

        device = gen.device
        out, mask, positions = gen.prefill([r.prompt for r in reqs])
        rows, expand = [], []
        for j, r in enumerate(reqs):
            for s in range(r.rows):
                rng = torch.Generator(device=device).manual_seed(_sample_seed(r.request.params, s))
                rows.append(_Live(r, s, rng, _StopScanner(r.request.params.stop)))
                expand.append(j)
        sel = torch.tensor(expand, device=device)
        cache = out.past_key_values
        cache.batch_select_indices(sel)
        return cls(rows, cache, mask.index_select(0, sel), positions[:, -1].index_select(0, sel),
                   out.logits[:, -1, :].float().index_select(0, sel))

    def keep(self, idx: list[int]) -> None:
        """Keep only the rows ``idx`` (in order), then trim padding no row needs any more."""
        import torch

        if len(idx) == len(self.rows):
            return
        self.rows = [self.rows[i] for i in idx]
        if not idx:
            return
        sel = torch.tensor(idx, device=self.mask.device)
        self.cache.batch_select_indices(sel)
        self.mask, self.last_pos, self.logits = (t.index_select(0, sel) for t in (self.mask, self.last_pos, self.logits))
        used = self.mask.any(dim=0).nonzero()
        first = int(used[0]) if len(used) else 0
        if first > 0:
            self.mask = self.mask[:, first:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, first:], layer.values[:, :, first:]

    def merge(self, other: _Batch) -> _Batch:
        """This batch and ``other`` as one (the shorter cache is left-padded)."""
        import torch
        import torch.nn.functional as F

        width = max(self.mask.shape[1], other.mask.shape[1])

        def pad(b: _Batch) -> None:
            extra = width - b.mask.shape[1]
            if extra:
                b.mask = F.pad(b.mask, (extra, 0))
                for layer in b.cache.layers:
                    layer.keys, layer.values = F.pad(layer.keys, (0, 0, extra, 0)), F.pad(layer.values, (0, 0, extra, 0))

        pad(self)
        pad(other)
        for mine, theirs in zip(self.cache.layers, other.cache.layers):
            mine.keys = torch.cat([mine.keys, theirs.keys])
            mine.values = torch.cat([mine.values, theirs.values])
        self.rows += other.rows
        self.mask = torch.cat([self.mask, other.mask])
        self.last_pos = torch.cat([self.last_pos, other.last_pos])
        self.logits = torch.cat([self.logits, other.logits])
        return self

    def advance(self, gen: InflightTransformersGenerator) -> list[_Live]:
        """Sample one token per row, remove the rows that ended, run one decode step; the ended rows."""
        import torch

        params = gen.sampling
        next_ids = _choose(self.logits, params, [x.rng for x in self.rows]).tolist()
        eos = gen.eos_token_ids
        ended, keep = [], []
        for k, x in enumerate(self.rows):
            tok = int(next_ids[k])
            x.generated.append(tok)
            if (tok in eos or len(x.generated) >= x.req.request.params.max_tokens
                    or (x.scanner.stop and x.scanner.find(gen.tokenizer, x.generated) is not None)):
                ended.append(x)
            else:
                keep.append(k)
        self.keep(keep)
        if keep:
            step_ids = torch.tensor([next_ids[k] for k in keep], device=self.mask.device).unsqueeze(1)
            self.mask = torch.cat([self.mask, self.mask.new_ones((len(keep), 1))], dim=1)
            self.last_pos = self.last_pos + 1
            with torch.inference_mode():
                out = gen.hf_model(input_ids=step_ids, attention_mask=self.mask,
                                   position_ids=self.last_pos.unsqueeze(1), past_key_values=self.cache, use_cache=True)
            self.cache = out.past_key_values
            self.logits = out.logits[:, -1, :].float()
        return ended
