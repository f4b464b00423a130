"""The generator interface: chat messages in, ``n`` samples out.

Every place that generates text (synthetic data, RL rollouts, evaluation) talks to a
:class:`Generator`. Backends: ``transformers`` (local HF model), ``openai`` (any OpenAI-compatible
server), ``vllm`` (in-process, optional extra) and ``procedural`` (a rule-based teacher for the tiny
profile, never presented as a model).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": str}
FINISH_REASONS = ("stop", "length", "error")


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings of one request (OpenAI chat-completions names)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        object.__setattr__(self, "stop", tuple(self.stop or ()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (``stop`` as a list)."""
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass
class Completion:
    """One sample: its text, why it ended, and its token counts."""

    text: str
    finish_reason: str  # "stop" (EOS or stop string), "length" (max_tokens) or "error"
    completion_tokens: int
    prompt_tokens: int = 0
    error: str | None = None
    # the sampled token ids, EOS included (backends that have them: transformers, vllm); RL trains on
    # exactly these. ``text`` may end earlier when a stop string cut it.
    token_ids: tuple[int, ...] | None = None


@dataclass
class GenerationRequest:
    """Messages plus sampling parameters; ``request_id`` is echoed in the result."""

    messages: list[Message]
    params: SamplingParams = field(default_factory=SamplingParams)
    request_id: str = ""


@dataclass
class GenerationResult:
    """The completions of one request, or the error that prevented them."""

    request_id: str
    completions: list[Completion]
    error: str | None = None
    attempts: int = 1
    latency_s: float = 0.0
    #: per completion: seconds from submission to that sequence's end (streaming backends)
    sequence_seconds: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TokenUsage:
    """Token and request accounting; goes into asset metadata via :meth:`to_metadata`. ``seconds`` and
    ``tokens_per_s`` are wall clock: metadata only, never an artifact's files (content hashes)."""

    requests: int = 0
    failed_requests: int = 0
    samples: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    seconds: float = 0.0
    finish_reasons: dict[str, int] = field(default_factory=dict)

    def add(self, result: GenerationResult) -> None:
        """Account one request's result."""
        self.requests += 1
        self.retries += max(0, result.attempts - 1)
        if result.error is not None:
            self.failed_requests += 1
        for c in result.completions:
            self.samples += 1
            self.completion_tokens += c.completion_tokens
            self.finish_reasons[c.finish_reason] = self.finish_reasons.get(c.finish_reason, 0) + 1
        if result.completions:
            self.prompt_tokens += result.completions[0].prompt_tokens

    def merge(self, other: TokenUsage) -> None:
        """Add another usage record into this one."""
        for name in ("requests", "failed_requests", "samples", "prompt_tokens",
                     "completion_tokens", "retries", "seconds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for k, v in other.finish_reasons.items():
            self.finish_reasons[k] = self.finish_reasons.get(k, 0) + v

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_metadata(self) -> dict[str, Any]:
        """Flat dict for Dagster metadata / the catalog."""
        return {
            "requests": self.requests, "failed_requests": self.failed_requests,
            "samples": self.samples, "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens, "retries": self.retries,
            "seconds": round(self.seconds, 3), "tokens_per_s": round(self.tokens_per_s, 1),
            "finish_reasons": dict(sorted(self.finish_reasons.items())),
        }


ProgressFn = Callable[[int], None]  # called with the number of requests just finished


class Generator(ABC):
    """Base class of all backends.

    Subclasses implement :meth:`generate` (one request); backends that batch (transformers, vllm)
    or run requests concurrently (openai) override :meth:`generate_batch`.
    """

    backend: str = "abstract"
    #: False only for the procedural teacher: it is a rule-based program, not a language model.
    is_model: bool = True

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def generate(self, messages: Sequence[Message], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for one conversation; raises on failure."""

    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """Results in request order; a failing request yields an error result, not an exception."""
        out = []
        for req in requests:
            out.append(run_one(self.generate, req))
            if progress:
                progress(1)
        return out

    def describe(self) -> dict[str, Any]:
        """Provenance of generated samples: backend, model, and whether it is a model at all."""
        return {"backend": self.backend, "model": self.model, "is_model": self.is_model}

    def close(self) -> None:
        """Release resources (threads, processes, GPU memory)."""

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BatchGenerator(Generator):
    """A backend whose native call is a batch (transformers, vllm, openai): one request is a
    batch of one."""

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> list[Completion]:
        """``params.n`` completions for one conversation; raises on failure."""
        result = self.generate_batch([GenerationRequest(list(messages), params)])[0]
        if result.error is not None:
            raise RuntimeError(result.error)
        return result.completions

    @abstractmethod
    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """Results in request order; a failing request yields an error result, not an exception."""


def run_one(fn: Callable[[Sequence[Message], SamplingParams], list[Completion]],
            req: GenerationRequest) -> GenerationResult:
    """Call ``fn`` for one request, turning an exception into an error result."""
    start = time.perf_counter()
    try:
        completions = fn(req.messages, req.params)
        error = None
    except Exception as e:  # noqa: BLE001 - reported per request, counted in metadata
        completions, error = [], f"{type(e).__name__}: {e}"
    return GenerationResult(req.request_id, completions, error, 1, time.perf_counter() - start)


def generate_all(generator: Generator, requests: Sequence[GenerationRequest], *,
                 desc: str = "generate", show_progress: bool = True,
                 log: Callable[[str], None] | None = None) -> tuple[list[GenerationResult], TokenUsage]:
    """Run all requests with a progress bar; returns results (request order) and token usage."""
    from tqdm.auto import tqdm

    usage = TokenUsage()
    start = time.perf_counter()
    with tqdm(total=len(requests), desc=f"{desc} [{generator.backend}]", unit="req",
              disable=not show_progress, mininterval=2.0) as bar:
        results = generator.generate_batch(list(requests), progress=bar.update)
    usage.seconds = time.perf_counter() - start
    for r in results:
        usage.add(r)
    if log:
        log(f"{desc}: {usage.requests} requests, {usage.samples} samples, "
            f"{usage.completion_tokens} completion tokens in {usage.seconds:.1f}s "
            f"({usage.failed_requests} failed, {usage.retries} retries)")
    return results, usage


def generate_via_submit(generator: Any, requests: Sequence[GenerationRequest],
                        progress: ProgressFn | None = None) -> list[GenerationResult]:
    """``generate_batch`` of a streaming backend (``submit(request, on_done) -> handle``): submit
    every request and wait for all; results in request order, refusals as error results."""
    done = threading.Semaphore(0)
    results: list[GenerationResult | None] = [None] * len(requests)

    def callback(i: int) -> Callable[[GenerationResult, float], None]:
        def cb(res: GenerationResult, _: float) -> None:
            results[i] = res
            if progress:
                progress(1)
            done.release()
        return cb

    waiting = 0
    for i, req in enumerate(requests):
        try:
            generator.submit(req, callback(i))
            waiting += 1
        except Exception as e:  # noqa: BLE001 - per request
            results[i] = GenerationResult(req.request_id, [], f"{type(e).__name__}: {e}")
    for _ in range(waiting):
        done.acquire()
    return [r for r in results if r is not None]
