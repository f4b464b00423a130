"""Speculative decoding with MiMo's MTP layers as the draft (batch size 1, KV caches everywhere).

One step, with the main model run over positions ``< m`` and the next token ``t = x[m]`` already chosen:

1. draft: MTP layer ``k`` (``k < K``) runs at the new positions up to ``m - 1`` (its own KV cache holds
   the rest) and guesses ``x[m+1+k]``: layer 0 fuses the main hidden state with ``emb(x[m])``, layer
   ``k`` the previous layer's output (``mtp_hidden_source="previous"``; the main state for ``"main"``)
   with the embedding of draft ``k``. This is exactly what ``mimo.model.mtp.greedy_draft`` computes
   over the whole sequence.
2. verify: one main-model forward over ``[t, d_1 .. d_K]`` gives the target logits at every draft
   position and one past the last; ``spec_sampling.verify_drafts`` accepts a prefix and picks the next
   token (greedy: identical to plain greedy decoding; sampling: the standard acceptance rule).
3. the main KV cache is cropped to the accepted tokens; each MTP cache keeps only positions whose
   inputs are all committed (layer ``k``: positions ``< m - k``).

Every step commits ``1 + accepted`` tokens for one main forward plus ``K`` one-layer MTP forwards.
Batch size 1 only; eager or SDPA attention (the MTP layers get an explicit additive mask).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from transformers import DynamicCache

from mimo.generate.spec_sampling import choose_token, sample, verify_drafts, warp_probs

StopFn = Callable[[list[int]], bool]


@dataclass
class SpecStats:
    """Draft counters; index ``k`` is draft position ``k`` (made by MTP layer ``k``).

    ``proposed[k]``: steps that drafted position k; ``accepted[k]``: steps that accepted it (and so
    every earlier draft); ``reached[k]``: steps where it was checked at all (every earlier draft
    accepted). ``acceptance`` = accepted / proposed (vLLM's per-position rate); ``conditional`` =
    accepted / reached."""

    num_speculative: int
    proposed: list[int] = field(default_factory=list)
    accepted: list[int] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)
    steps: int = 0
    accepted_total: int = 0

    def __post_init__(self) -> None:
        for name in ("proposed", "accepted", "reached"):
            if not getattr(self, name):
                setattr(self, name, [0] * self.num_speculative)

    def record(self, drafted: int, accepted: int) -> None:
        """One verify step that checked ``drafted`` drafts and accepted the first ``accepted``."""
        self.steps += 1
        self.accepted_total += accepted
        for k in range(drafted):
            self.proposed[k] += 1
            self.accepted[k] += int(k < accepted)
            self.reached[k] += int(k <= accepted)

    def merge(self, other: SpecStats) -> None:
        """Add ``other``'s counters (same ``num_speculative``)."""
        if other.num_speculative != self.num_speculative:
            raise ValueError("cannot merge stats of different draft lengths")
        for name in ("proposed", "accepted", "reached"):
            setattr(self, name, [a + b for a, b in zip(getattr(self, name), getattr(other, name))])
        self.steps += other.steps
        self.accepted_total += other.accepted_total

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe summary (rates are ``None`` where nothing was proposed)."""
        def rate(num: list[int], den: list[int]) -> list[float | None]:
            return [round(a / b, 4) if b else None for a, b in zip(num, den)]
        mean = self.accepted_total / self.steps if self.steps else 0.0
        return {"num_speculative": self.num_speculative, "steps": self.steps,
                "proposed": list(self.proposed), "accepted": list(self.accepted), "reached": list(self.reached),
                "acceptance_per_layer": rate(self.accepted, self.proposed),
                "conditional_acceptance_per_layer": rate(self.accepted, self.reached),
                "mean_accepted_per_step": round(mean, 4), "tokens_per_step": round(1 + mean, 4)}


@dataclass
class DecodeOutput:
    """Generated ids (EOS included), why decoding ended (``eos``, ``stop``, ``length``), timings and,
    for speculative decoding, the draft counters and an optional per-step trace."""

    tokens: list[int]
    finish_reason: str
    prefill_s: float
    decode_s: float
    stats: SpecStats | None = None
    trace: list[dict[str, Any]] | None = None

    @property
    def decode_tokens_per_s(self) -> float:
        return len(self.tokens) / self.decode_s if self.decode_s > 0 else float("inf")


class _Committer:
    """Appends committed tokens and decides when decoding ends."""

    def __init__(self, max_new_tokens: int, eos: Collection[int], stop_fn: StopFn | None) -> None:
        self.tokens: list[int] = []
        self.max_new_tokens, self.eos, self.stop_fn = max_new_tokens, frozenset(eos), stop_fn
        self.finish: str | None = None

    def add(self, token: int) -> bool:
        """Commit ``token``; True when decoding must end here."""
        self.tokens.append(token)
        if token in self.eos:
            self.finish = "eos"
        elif self.stop_fn is not None and self.stop_fn(self.tokens):
            self.finish = "stop"
        elif len(self.tokens) >= self.max_new_tokens:
            self.finish = "length"
        return self.finish is not None

    @property
    def budget(self) -> int:
        return self.max_new_tokens - len(self.tokens)


def _check_prompt(model: Any, prompt_ids: Sequence[int], max_new_tokens: int) -> torch.Tensor:
    if len(prompt_ids) == 0:
        raise ValueError("the prompt must hold at least one token")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = next(model.parameters()).device
    return torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)


def _prefill(model: Any, ids: torch.Tensor) -> tuple[Any, DynamicCache]:
    cache = DynamicCache(config=model.config)
    out = model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    return out, out.past_key_values


@torch.inference_mode()
def plain_generate(model: Any, prompt_ids: Sequence[int], max_new_tokens: int, *, temperature: float = 0.0,
                   top_p: float = 1.0, eos_token_ids: Collection[int] = (),
                   generator: torch.Generator | None = None, stop_fn: StopFn | None = None) -> DecodeOutput:
    """Plain one-token-per-forward decoding with a KV cache (the reference for exactness and speed)."""
    ids = _check_prompt(model, prompt_ids, max_new_tokens)
    t0 = time.perf_counter()
    out, cache = _prefill(model, ids)
    t1 = time.perf_counter()
    done = _Committer(max_new_tokens, eos_token_ids, stop_fn)
    pos = ids.shape[1]
    while True:
        token, _ = choose_token(out.logits[0, -1], temperature, top_p, generator)
        if done.add(token):
            break
        out = model(input_ids=ids.new_tensor([[token]]), position_ids=ids.new_tensor([[pos]]),
                    past_key_values=cache, use_cache=True)
        cache, pos = out.past_key_values, pos + 1
    return DecodeOutput(done.tokens, done.finish or "length", t1 - t0, time.perf_counter() - t1)


class _MTPDrafter:
    """The MTP layers with their own KV caches and the hidden-state buffers they read."""

    def __init__(self, model: Any, num_layers: int, capacity: int, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.num_layers = model, num_layers
        self.previous = model.config.mtp_hidden_source == "previous"
        d = model.config.hidden_size
        self.main_hidden = torch.zeros(1, capacity, d, device=device, dtype=dtype)
        # outputs of layer k (before final_layernorm) feed layer k + 1 when chaining
        self.outputs = [torch.zeros(1, capacity, d, device=device, dtype=dtype)
                        for _ in range(num_layers - 1 if self.previous else 0)]
        self.caches = [DynamicCache() for _ in range(num_layers)]
        self.cache_index = [layer.self_attn.layer_idx for layer in model.model.mtp_layers[:num_layers]]
        self.cached = [0] * num_layers  # positions [0, cached[k]) are in layer k's cache
        self.ids = torch.zeros(capacity + num_layers + 1, dtype=torch.long, device=device)

    def _mask(self, q_len: int, kv_len: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
        if q_len == 1:
            return None
        past = kv_len - q_len
        allowed = (torch.arange(kv_len, device=device)[None, :]
                   <= torch.arange(q_len, device=device)[:, None] + past)
        mask = torch.zeros(q_len, kv_len, dtype=dtype, device=device)
        return mask.masked_fill(~allowed, torch.finfo(dtype).min)[None, None]

    def layer_logits(self, k: int, m: int) -> torch.Tensor:
        """Run MTP layer ``k`` at positions ``[cached[k], m)`` (token inputs ``ids[pos + 1 + k]``) and
        return its logits at position ``m - 1`` (a guess for ``x[m + 1 + k]``)."""
        model = self.model
        lo = self.cached[k]
        source = self.main_hidden if (k == 0 or not self.previous) else self.outputs[k - 1]
        embeds = model.model.embed_tokens(self.ids[lo + 1 + k:m + 1 + k])[None]
        positions = torch.arange(lo, m, device=embeds.device)[None]
        rope = model.model.rotary_emb(embeds, positions)
        mask = self._mask(m - lo, m, embeds.dtype, embeds.device)
        hidden = model.mtp_layer_forward(k, source[:, lo:m], embeds, rope, mask, positions,
                                         past_key_values=self.caches[k], use_cache=True)
        if k < len(self.outputs):
            self.outputs[k][:, lo:m] = hidden
        # keep only positions whose inputs (tokens up to x[m], earlier layers) are all committed
        keep = max(m - k, 0)
        cache, index = self.caches[k], self.cache_index[k]
        if cache.get_seq_length(index) > keep:
            cache.layers[index].crop(keep - cache.get_seq_length(index))
        self.cached[k] = cache.get_seq_length(index)
        return model.mtp_logits_from_hidden(k, hidden[:, -1])[0]


def num_mtp_layers(model: Any) -> int:
    """How many MTP layers ``model`` has (0 for models without ``model.mtp_layers``)."""
    layers = getattr(getattr(model, "model", None), "mtp_layers", None)
    return len(layers) if layers is not None else 0


@torch.inference_mode()
def speculative_generate(model: Any, prompt_ids: Sequence[int], max_new_tokens: int, num_speculative: int, *,
                         temperature: float = 0.0, top_p: float = 1.0, eos_token_ids: Collection[int] = (),
                         generator: torch.Generator | None = None, stop_fn: StopFn | None = None,
                         draft: Literal["sample", "greedy"] = "sample", trace: bool = False) -> DecodeOutput:
    """Decode ``prompt_ids`` (one sequence) with ``num_speculative`` MTP drafts per step.

    Greedy (``temperature == 0``) gives plain greedy decoding's tokens; sampling preserves the
    distribution of plain sampling with the same ``temperature``/``top_p``. ``draft="sample"`` draws
    drafts from the warped MTP distribution, ``"greedy"`` takes its argmax (one-hot ``q``). Decoding
    ends at an EOS id (kept), when ``stop_fn(tokens)`` is true, or after ``max_new_tokens``.
    ``trace=True`` records each step's drafts and accepted count (``DecodeOutput.trace``).
    """
    layers = num_mtp_layers(model)
    if not 1 <= num_speculative <= layers:
        raise ValueError(f"num_speculative must be in [1, {layers}] (the model's MTP layers), got {num_speculative}")
    if draft not in ("sample", "greedy"):
        raise ValueError(f"draft must be 'sample' or 'greedy', got {draft!r}")
    ids = _check_prompt(model, prompt_ids, max_new_tokens)
    length = ids.shape[1]
    start = time.perf_counter()
    out, cache = _prefill(model, ids)
    prefill_s = time.perf_counter() - start
    t_decode = time.perf_counter()
    dtype = out.pre_norm_hidden_state.dtype
    drafter = _MTPDrafter(model, num_speculative, length + max_new_tokens + num_speculative + 1, ids.device, dtype)
    drafter.main_hidden[:, :length] = out.pre_norm_hidden_state
    drafter.ids[:length] = ids[0]
    stats, steps = SpecStats(num_speculative), [] if trace else None
    done = _Committer(max_new_tokens, eos_token_ids, stop_fn)
    eos = frozenset(eos_token_ids)
    m = length  # the main model has run positions [0, m)
    token, _ = choose_token(out.logits[0, -1], temperature, top_p, generator)
    while not done.add(token):
        drafter.ids[m] = token
        drafts: list[int] = []
        draft_probs: list[torch.Tensor | None] = []
        for k in range(min(num_speculative, done.budget - 1)):
            logits = drafter.layer_logits(k, m)
            if temperature == 0 or draft == "greedy":
                d, q = int(logits.argmax(-1)), None
            else:
                q = warp_probs(logits, temperature, top_p)
                d = sample(q, generator)
            drafts.append(d)
            draft_probs.append(q)
            drafter.ids[m + 1 + k] = d
            if d in eos:  # nothing after an EOS is worth drafting
                break
        step_ids = drafter.ids[m:m + 1 + len(drafts)][None]
        out = model(input_ids=step_ids, position_ids=torch.arange(m, m + step_ids.shape[1], device=ids.device)[None],
                    past_key_values=cache, use_cache=True)
        cache = out.past_key_values
        drafter.main_hidden[:, m:m + step_ids.shape[1]] = out.pre_norm_hidden_state
        accepted, token = verify_drafts(out.logits[0], drafts, draft_probs, temperature, top_p, generator)
        stats.record(len(drafts), accepted)
        if steps is not None:
            steps.append({"position": m, "drafts": list(drafts), "accepted": accepted, "next": token})
        m += 1 + accepted
        cache.crop(m - cache.get_seq_length())
        if any(done.add(d) for d in drafts[:accepted]):
            break
    return DecodeOutput(done.tokens, done.finish or "length", prefill_s, time.perf_counter() - t_decode,
                        stats, steps)


def measure_speculative(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                        num_speculative: int | Sequence[int] = (1, 2, 3), *, temperature: float = 0.0,
                        top_p: float = 1.0, eos_token_ids: Collection[int] = (), seed: int = 0,
                        draft: Literal["sample", "greedy"] = "sample", repeats: int = 1,
                        warmup: bool = True) -> dict[str, Any]:
    """Plain vs. speculative decoding of the same ``model`` on the same ``prompts`` (token-id lists).

    For every prompt the plain run and one run per draft length are interleaved (so a slower moment
    of a shared machine hits all of them); with ``repeats > 1`` the fastest decode time of each
    (prompt, method) counts. Decode time excludes the main model's prompt forward (identical for both;
    the MTP layers' pass over the prompt is counted). Returns acceptance per draft position (see
    :class:`SpecStats`), mean accepted tokens per step, decode tokens/s with and without speculation,
    their ratio (``speedup``) and, when greedy, whether every output was identical to plain decoding.
    """
    ks = [num_speculative] if isinstance(num_speculative, int) else list(num_speculative)
    if not prompts or not ks or repeats < 1:
        raise ValueError("need at least one prompt, one draft length and repeats >= 1")
    if warmup:
        plain_generate(model, prompts[0], min(4, max_new_tokens))
        for k in ks:
            speculative_generate(model, prompts[0], min(4, max_new_tokens), k)

    def run(k: int, prompt: Sequence[int], i: int) -> DecodeOutput:
        best: DecodeOutput | None = None
        for _ in range(repeats):  # the same seed each repeat: the same tokens, only the time varies
            gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed + i)
            kwargs = {"temperature": temperature, "top_p": top_p, "eos_token_ids": eos_token_ids, "generator": gen}
            out = (plain_generate(model, prompt, max_new_tokens, **kwargs) if k == 0 else
                   speculative_generate(model, prompt, max_new_tokens, k, draft=draft, **kwargs))
            best = out if best is None or out.decode_s < best.decode_s else best
        assert best is not None
        return best

    plain = {"tokens": 0, "decode_s": 0.0}
    spec = {k: {"tokens": 0, "decode_s": 0.0, "identical_prompts": 0, "stats": SpecStats(k)} for k in ks}
    for i, prompt in enumerate(prompts):
        base = run(0, prompt, i)
        plain["tokens"] += len(base.tokens)
        plain["decode_s"] += base.decode_s
        for k in ks:
            out = run(k, prompt, i)
            s = spec[k]
            s["tokens"] += len(out.tokens)
            s["decode_s"] += out.decode_s
            s["identical_prompts"] += int(out.tokens == base.tokens)
            s["stats"].merge(out.stats)
    plain_tps = plain["tokens"] / plain["decode_s"] if plain["decode_s"] else 0.0
    results: dict[str, Any] = {}
    for k, s in spec.items():
        tps = s["tokens"] / s["decode_s"] if s["decode_s"] else 0.0
        results[str(k)] = {**s.pop("stats").as_dict(), "tokens": s["tokens"], "decode_s": round(s["decode_s"], 4),
                           "decode_tokens_per_s": round(tps, 2),
                           "speedup": round(tps / plain_tps, 3) if plain_tps else None,
                           "identical": (s["identical_prompts"] == len(prompts)) if temperature == 0 else None,
                           "identical_prompts": s["identical_prompts"]}
    best = max(results, key=lambda k: results[k]["speedup"] or 0.0)
    return {"prompts": len(prompts), "prompt_tokens_mean": round(sum(map(len, prompts)) / len(prompts), 1),
            "max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p,
            "draft": "greedy" if temperature == 0 else draft, "repeats": repeats,
            "mtp_layers": num_mtp_layers(model), "mtp_hidden_source": model.config.mtp_hidden_source,
            "plain": {"tokens": plain["tokens"], "decode_s": round(plain["decode_s"], 4),
                      "decode_tokens_per_s": round(plain_tps, 2)},
            "speculative": results, "best": {"num_speculative": int(best), "speedup": results[best]["speedup"]}}


__all__ = ["DecodeOutput", "SpecStats", "measure_speculative", "num_mtp_layers", "plain_generate",
           "speculative_generate"]
