"""Local Hugging Face causal LM backend: batched decoding with a KV cache, in this process.

Batching: requests are grouped by sampling settings (temperature, top_p, max_tokens, stop; ``n``
and ``seed`` may differ inside a group), sorted by prompt length, expanded into one row per sample
and cut into chunks of ``batch_size`` rows. A chunk is left-padded, its distinct prompts are
prefilled once and the cache is copied to the samples of each prompt; rows that finish (EOS, stop
string, ``max_tokens``) are dropped from the batch, so the chunk ends with its longest sample.

Determinism: every sample draws from its own ``torch.Generator`` seeded with ``seed + i`` (sample
``i`` of a request with ``SamplingParams.seed``), so a seeded request returns the same samples
whatever else is in its batch (up to float round-off of padded vs. unpadded attention).
``temperature == 0`` is greedy. Without a seed, each sample gets a fresh random seed.

Speculative decoding (opt-in, ``speculative_tokens=K`` with a MiMo model that has MTP layers): each
sample is decoded on its own (batch size 1) by :func:`mimo.generate.speculative.speculative_generate`
with ``K`` MTP drafts per step; greedy output equals the default path's, sampling keeps its
distribution (not its random stream). ``speculative_stats`` accumulates the draft acceptance.

Token accounting: ``completion_tokens`` counts the generated tokens up to and including the EOS
token or the token that completed the stop string; the returned text stops before the stop string
and never contains the EOS token (special tokens are skipped, as vLLM does by default).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mimo.generate.base import (
    BatchGenerator,
    Completion,
    GenerationRequest,
    GenerationResult,
    Message,
    ProgressFn,
    SamplingParams,
)

_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
           "float16": "float16", "fp16": "float16", "half": "float16"}


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; anything else is returned unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_dtype(dtype: str, device: str) -> Any:
    """``auto`` -> bfloat16 on CUDA, float32 elsewhere; or a named torch dtype."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r} (expected auto or one of {sorted(_DTYPES)})")
    return getattr(torch, _DTYPES[dtype])


def safe_decode(tokenizer: Any, ids: Sequence[int]) -> str:
    """Decode generated ids; never raises (odd bytes become U+FFFD, unknown ids are dropped)."""
    try:
        return tokenizer.decode(list(ids), skip_special_tokens=True,
                                clean_up_tokenization_spaces=False)
    except Exception:  # noqa: BLE001 - some slow tokenizers choke on ids; fall back per token
        parts = []
        for i in ids:
            try:
                parts.append(tokenizer.decode([i], skip_special_tokens=True))
            except Exception:  # noqa: BLE001
                parts.append("\ufffd")
        return "".join(parts)


@dataclass
class _Row:
    """One sample being generated."""

    request: int
    sample: int
    prompt: list[int]
    seed: int
    generated: list[int] = field(default_factory=list)
    text: str | None = None
    finish_reason: str | None = None


class TransformersGenerator(BatchGenerator):
    """A local ``transformers`` causal LM with a chat template (see the module docstring).

    ``model`` is a path or hub name loaded with ``AutoModelForCausalLM``/``AutoTokenizer``, or only
    a label when ``model_obj`` and ``tokenizer_obj`` are given (RL passes its live policy and
    updates the weights in place; ``.hf_model`` and ``.tokenizer`` are that model and tokenizer).
    ``ignore_eos`` keeps generating to ``max_tokens`` (benchmarks); ``eos_token_ids`` overrides the
    stop tokens (default: the tokenizer's and the generation config's EOS ids).
    ``speculative_tokens`` > 0 decodes with that many MTP drafts per step (module docstring); it must
    not exceed the model's MTP layers, and a model without MTP layers decodes the default way.
    """

    backend = "transformers"

    def __init__(self, model: str, *, device: str = "auto", dtype: str = "auto",
                 batch_size: int = 16, model_obj: Any = None, tokenizer_obj: Any = None,
                 ignore_eos: bool = False, eos_token_ids: Sequence[int] | None = None,
                 speculative_tokens: int = 0) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        import mimo.model  # noqa: F401  (registers the MiMo architecture with the Auto classes)

        super().__init__(model)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.ignore_eos = ignore_eos
        self.tokenizer = tokenizer_obj if tokenizer_obj is not None else AutoTokenizer.from_pretrained(model)
        if model_obj is not None:
            self.hf_model = model_obj
            if device != "auto":
                self.hf_model.to(device)
            if dtype != "auto":
                self.hf_model.to(resolve_dtype(dtype, device))
        else:
            dev = resolve_device(device)
            self.hf_model = AutoModelForCausalLM.from_pretrained(model, dtype=resolve_dtype(dtype, dev))
            self.hf_model.to(dev)
        self.hf_model.eval()
        self._eos_override = None if eos_token_ids is None else tuple(int(i) for i in eos_token_ids)
        self.speculative_tokens = self._speculative_setup(speculative_tokens)
        self._lock = threading.Lock()
        self._torch = torch

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> Any:
        return next(self.hf_model.parameters()).device

    @property
    def eos_token_ids(self) -> frozenset[int]:
        """Token ids that end a sample (empty when ``ignore_eos``)."""
        if self.ignore_eos:
            return frozenset()
        if self._eos_override is not None:
            return frozenset(self._eos_override)
        ids: set[int] = set()
        for source in (getattr(self.tokenizer, "eos_token_id", None),
                       getattr(getattr(self.hf_model, "generation_config", None), "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif source is not None:
                ids.update(int(i) for i in source)
        return frozenset(ids)

    @property
    def pad_token_id(self) -> int:
        pad = getattr(self.tokenizer, "pad_token_id", None)
        if pad is None:
            pad = getattr(self.tokenizer, "eos_token_id", None)
        return int(pad) if pad is not None else 0

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(device=str(self.device), dtype=str(next(self.hf_model.parameters()).dtype).replace("torch.", ""))
        if self.speculative_tokens:
            d["speculative_tokens"] = self.speculative_tokens
        return d

    # ------------------------------------------------------------------ public API
    def encode_chat(self, messages: Sequence[Message]) -> list[int]:
        """Prompt token ids: the chat template with the generation prompt, no extra special tokens."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(f"tokenizer of {self.model!r} has no chat template")
        text = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True,
                                                  tokenize=False)
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """Batched generation (module docstring); failures become error results."""
        start = time.perf_counter()
        results: list[GenerationResult | None] = [None] * len(requests)
        prompts: dict[int, list[int]] = {}
        for i, req in enumerate(requests):
            try:
                prompts[i] = self.encode_chat(req.messages)
            except Exception as e:  # noqa: BLE001 - per request
                results[i] = GenerationResult(req.request_id, [], f"{type(e).__name__}: {e}")
                if progress:
                    progress(1)
        groups: dict[tuple, list[int]] = {}
        for i in prompts:
            p = requests[i].params
            groups.setdefault((p.temperature, p.top_p, p.max_tokens, p.stop), []).append(i)
        with self._lock:
            for indices in groups.values():
                indices.sort(key=lambda i: len(prompts[i]))
                rows = [_Row(i, s, prompts[i], _sample_seed(requests[i].params, s))
                        for i in indices for s in range(_rows_needed(requests[i].params))]
                self._run_group(requests, rows, results, progress, start)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ internals
    def _run_group(self, requests: Sequence[GenerationRequest], rows: list[_Row],
                   results: list[GenerationResult | None], progress: ProgressFn | None,
                   start: float) -> None:
        remaining: dict[int, int] = {}
        for row in rows:
            remaining[row.request] = remaining.get(row.request, 0) + 1
        done: dict[int, list[_Row]] = {}
        failed: dict[int, str] = {}
        for lo in range(0, len(rows), self.batch_size):
            chunk = rows[lo:lo + self.batch_size]
            try:
                self._decode_chunk(chunk, requests[chunk[0].request].params)
            except Exception as e:  # noqa: BLE001 - the chunk's requests fail, the batch goes on
                for row in chunk:
                    failed.setdefault(row.request, f"{type(e).__name__}: {e}")
            for row in chunk:
                done.setdefault(row.request, []).append(row)
                remaining[row.request] -= 1
                if remaining[row.request] == 0:
                    results[row.request] = self._result(requests[row.request], done.pop(row.request),
                                                        failed.get(row.request), start)
                    if progress:
                        progress(1)

    def _result(self, req: GenerationRequest, rows: list[_Row], error: str | None,
                start: float) -> GenerationResult:
        latency = time.perf_counter() - start
        if error is not None:
            return GenerationResult(req.request_id, [], error, 1, latency)
        rows.sort(key=lambda r: r.sample)
        completions = [Completion(r.text or "", r.finish_reason or "length", len(r.generated),
                                  len(r.prompt), token_ids=tuple(r.generated)) for r in rows]
        if req.params.temperature == 0 and req.params.n > 1:  # greedy: one row, n copies
            first = completions[0]
            completions = [Completion(first.text, first.finish_reason, first.completion_tokens,
                                      first.prompt_tokens, token_ids=first.token_ids) for _ in range(req.params.n)]
        return GenerationResult(req.request_id, completions, None, 1, latency)

    def _speculative_setup(self, tokens: int) -> int:
        """Validate ``speculative_tokens``; 0 (default path) for models without MTP layers."""
        from mimo.generate.speculative import SpecStats, num_mtp_layers

        layers = num_mtp_layers(self.hf_model)
        if tokens < 0 or tokens > layers > 0:
            raise ValueError(f"speculative_tokens must be in [0, {layers}] (MTP layers of {self.model!r}), got {tokens}")
        tokens = tokens if layers else 0
        self.speculative_stats = SpecStats(tokens) if tokens else None
        return tokens

    def _decode_speculative(self, rows: list[_Row], params: SamplingParams) -> None:
        """Generate each row alone with MTP drafts (batch size 1), in place; same finish rules."""
        from mimo.generate.speculative import speculative_generate

        torch = self._torch
        stop_scan = _StopScanner(params.stop)
        stop_fn = (lambda ids: stop_scan.find(self.tokenizer, ids) is not None) if stop_scan.stop else None
        for row in rows:
            gen = torch.Generator(device=self.device).manual_seed(row.seed)
            out = speculative_generate(self.hf_model, row.prompt, params.max_tokens, self.speculative_tokens,
                                       temperature=params.temperature, top_p=params.top_p,
                                       eos_token_ids=self.eos_token_ids, generator=gen, stop_fn=stop_fn)
            row.generated = list(out.tokens)
            if out.finish_reason == "eos":
                row.text, row.finish_reason = stop_scan.final(self.tokenizer, row.generated[:-1], "stop")
            elif out.finish_reason == "stop":
                row.text, row.finish_reason = stop_scan.find(self.tokenizer, row.generated), "stop"
            else:
                row.text, row.finish_reason = stop_scan.final(self.tokenizer, row.generated, "length")
            if out.stats is not None and self.speculative_stats is not None:
                self.speculative_stats.merge(out.stats)

    def prefill(self, prompts: Sequence[Sequence[int]]) -> tuple[Any, Any, Any]:
        """One forward over the left-padded ``prompts`` into a fresh ``DynamicCache``: the model
        output (``past_key_values``, last-position ``logits``), the attention mask and positions."""
        from transformers import DynamicCache

        torch = self._torch
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for j, p in enumerate(prompts):
            ids[j, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
            mask[j, width - len(p):] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            out = self.hf_model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                past_key_values=DynamicCache(config=self.hf_model.config), use_cache=True,
                                logits_to_keep=1)
        return out, mask, positions

    def _decode_chunk(self, rows: list[_Row], params: SamplingParams) -> None:
        """Generate every row of one chunk (same sampling settings) to completion, in place."""
        if self.speculative_tokens:
            self._decode_speculative(rows, params)
            return
        torch = self._torch
        device = self.device
        eos = self.eos_token_ids
        # prefill each distinct prompt once, left-padded, then copy its cache to its samples
        distinct: dict[int, int] = {}
        for row in rows:
            distinct.setdefault(row.request, len(distinct))
        prompts = [next(r.prompt for r in rows if r.request == q) for q in distinct]
        out, mask, positions = self.prefill(prompts)
        with torch.inference_mode():
            expand = torch.tensor([distinct[r.request] for r in rows], device=device)
            cache = out.past_key_values
            if len(rows) != len(prompts) or bool((expand != torch.arange(len(rows), device=device)).any()):
                cache.batch_select_indices(expand)
            logits = out.logits[:, -1, :].float().index_select(0, expand)
            mask = mask.index_select(0, expand)
            last_pos = positions[:, -1].index_select(0, expand)
            generators = [torch.Generator(device=device).manual_seed(r.seed) for r in rows]
            active = list(range(len(rows)))  # row indices still in the batch, in batch order
            stop_scan = _StopScanner(params.stop)
            for step in range(params.max_tokens):
                next_ids = _choose(logits, params, [generators[a] for a in active]).tolist()
                keep = []
                for k, a in enumerate(active):
                    row = rows[a]
                    tok = int(next_ids[k])
                    row.generated.append(tok)
                    if tok in eos:
                        row.text, row.finish_reason = stop_scan.final(self.tokenizer, row.generated[:-1], "stop")
                    elif (cut := stop_scan.find(self.tokenizer, row.generated)) is not None:
                        row.text, row.finish_reason = cut, "stop"
                    elif step + 1 == params.max_tokens:
                        row.text, row.finish_reason = stop_scan.final(self.tokenizer, row.generated, "length")
                    else:
                        keep.append(k)
                if not keep or step + 1 == params.max_tokens:
                    break
                sel = torch.tensor(keep, device=device)
                step_ids = torch.tensor([next_ids[k] for k in keep], device=device).unsqueeze(1)
                if len(keep) != len(active):
                    cache.batch_select_indices(sel)
                    mask, last_pos = mask.index_select(0, sel), last_pos.index_select(0, sel)
                    active = [active[k] for k in keep]
                mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
                last_pos = last_pos + 1
                out = self.hf_model(input_ids=step_ids, attention_mask=mask,
                                    position_ids=last_pos.unsqueeze(1), past_key_values=cache,
                                    use_cache=True)
                cache = out.past_key_values
                logits = out.logits[:, -1, :].float()


class _StopScanner:
    """Finds the first stop string in a growing token sequence, decoding only a tail window."""

    def __init__(self, stop: Sequence[str]) -> None:
        self.stop = tuple(s for s in stop if s)
        # every token is >= 1 byte and a character <= 4 bytes: 4*len+8 tokens cover the longest stop
        self.window = 4 * max((len(s) for s in self.stop), default=0) + 8

    def find(self, tokenizer: Any, generated: list[int]) -> str | None:
        """Text before the first stop string, or ``None`` when no stop string has appeared."""
        if not self.stop:
            return None
        tail = safe_decode(tokenizer, generated[-self.window:])
        if not any(s in tail for s in self.stop):
            return None
        return self._cut(safe_decode(tokenizer, generated))

    def final(self, tokenizer: Any, generated: list[int], reason: str) -> tuple[str, str]:
        """(text, finish reason) of a finished sample; a stop string the tail window missed (tokens
        that decode to nothing) still cuts the text."""
        text = safe_decode(tokenizer, generated)
        cut = self._cut(text)
        return (text, reason) if cut is None else (cut, "stop")

    def _cut(self, text: str) -> str | None:
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        return text[:min(hits)] if hits else None


def _rows_needed(params: SamplingParams) -> int:
    return 1 if params.temperature == 0 else params.n


def _sample_seed(params: SamplingParams, sample: int) -> int:
    if params.seed is None:
        return int.from_bytes(os.urandom(8), "little") & ((1 << 63) - 1)
    return (params.seed + sample) & ((1 << 63) - 1)


def _choose(logits: Any, params: SamplingParams, generators: list[Any]) -> Any:
    """Next token per row: argmax when greedy, else temperature + nucleus sampling, per-row RNG.

    Sampling draws ``u ~ U[0, 1)`` from the row's generator and takes the first token whose
    cumulative probability exceeds ``u`` (zero-probability tokens can never be picked)."""
    import torch

    if params.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly above each token
        sorted_probs = sorted_probs.masked_fill(before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    # inverse-CDF sampling: one uniform draw per row from that row's own generator
    uniforms = torch.cat([torch.rand(1, generator=g, device=probs.device, dtype=torch.float64)
                          for g in generators])
    cdf = probs.double().cumsum(dim=-1)
    targets = (uniforms * cdf[:, -1]).unsqueeze(1)
    picked = torch.searchsorted(cdf, targets, right=True).squeeze(1)
    return picked.clamp(max=probs.shape[-1] - 1)
