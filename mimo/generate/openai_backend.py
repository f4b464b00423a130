"""Client of any OpenAI-compatible chat-completions server (vLLM, SGLang, TGI, hosted APIs).

Token accounting: chat-completions ``usage`` is summed over the choices of a call, so a request
with ``n`` samples is sent as ``n`` calls with ``n=1`` (sample ``i`` gets ``seed + i`` when the
request has a seed); each sample's ``completion_tokens`` is then exact. Greedy requests
(``temperature == 0``) are sent once and the completion copied ``n`` times. Servers with prefix
caching (vLLM, SGLang) reuse the shared prompt, so the extra calls cost little prompt compute.

Retries: the ``openai`` client's own retries are disabled; each call is retried here with
exponential backoff and jitter (``backoff_s * 2**k``, drawn in ``[d/2, d]``, at least the server's
``Retry-After``, capped at ``max_backoff_s``) on timeouts, connection errors, 408, 429 and 5xx,
at most ``max_retries`` times. Other 4xx and malformed replies fail at once. A request's
``attempts`` is ``1 + the retries of all its calls``.

Concurrency: calls run on a thread pool of ``concurrency`` workers, so at most ``concurrency``
HTTP requests are in flight (a worker keeps its slot while it backs off).

Robustness: the reply body is decoded as UTF-8 with replacement characters and parsed here, so
invalid UTF-8 becomes U+FFFD in the text and malformed JSON becomes a per-request error.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
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

RETRY_STATUSES = frozenset({408, 429})  # plus every 5xx


class MalformedResponse(ValueError):
    """The server answered 2xx with a body that is not a chat completion."""


class CallFailed(RuntimeError):
    """One HTTP call failed for good; ``attempts`` says how many tries it took."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts


class OpenAIGenerator(BatchGenerator):
    """Chat completions from an OpenAI-compatible server at ``base_url`` (e.g. ``.../v1``).

    ``extra_body`` is merged into every request (server-specific options such as vLLM's
    ``{"ignore_eos": true}``); ``max_tokens_param`` names the length field
    (``max_completion_tokens`` for hosted reasoning models).
    """

    backend = "openai"

    def __init__(self, model: str, *, base_url: str, api_key: str = "EMPTY", concurrency: int = 16,
                 max_retries: int = 4, backoff_s: float = 0.5, timeout_s: float = 120,
                 max_backoff_s: float = 30.0, extra_body: dict[str, Any] | None = None,
                 max_tokens_param: str = "max_tokens") -> None:
        import openai

        super().__init__(model)
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.base_url = base_url
        self.concurrency = concurrency
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self.extra_body = dict(extra_body or {})
        self.max_tokens_param = max_tokens_param
        self._openai = openai
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY",
                                    max_retries=0, timeout=timeout_s)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["base_url"] = self.base_url
        return d

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
        self.client.close()

    # ------------------------------------------------------------------ public API
    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        """All requests' calls on the thread pool; results in request order, errors per request."""
        pool = self._get_pool()
        start = time.perf_counter()
        calls: dict[Future, tuple[int, int]] = {}
        for i, req in enumerate(requests):
            for s in range(1 if req.params.temperature == 0 else req.params.n):
                calls[pool.submit(self._call_with_retries, req.messages, req.params, s)] = (i, s)
        pending_calls = [1 if r.params.temperature == 0 else r.params.n for r in requests]
        samples: list[dict[int, Completion]] = [{} for _ in requests]
        errors: list[str | None] = [None] * len(requests)
        attempts = [1] * len(requests)
        results: list[GenerationResult | None] = [None] * len(requests)
        waiting = set(calls)
        while waiting:
            finished, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for fut in finished:
                i, s = calls[fut]
                try:
                    completion, tries = fut.result()
                    samples[i][s] = completion
                except CallFailed as e:
                    errors[i] = errors[i] or str(e)
                    tries = e.attempts
                except Exception as e:  # noqa: BLE001 - never crash the batch
                    errors[i] = errors[i] or f"{type(e).__name__}: {e}"
                    tries = 1
                attempts[i] += tries - 1
                pending_calls[i] -= 1
                if pending_calls[i] == 0:
                    results[i] = self._result(requests[i], samples[i], errors[i], attempts[i],
                                              time.perf_counter() - start)
                    if progress:
                        progress(1)
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ internals
    def _get_pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="openai-gen")
            return self._pool

    @staticmethod
    def _result(req: GenerationRequest, samples: dict[int, Completion], error: str | None,
                attempts: int, latency: float) -> GenerationResult:
        if error is not None:
            return GenerationResult(req.request_id, [], error, attempts, latency)
        comps = [samples[s] for s in sorted(samples)]
        if req.params.temperature == 0 and req.params.n > 1:
            c = comps[0]
            comps = [Completion(c.text, c.finish_reason, c.completion_tokens, c.prompt_tokens)
                     for _ in range(req.params.n)]
        return GenerationResult(req.request_id, comps, None, attempts, latency)

    def _call_with_retries(self, messages: Sequence[Message], params: SamplingParams,
                           sample: int) -> tuple[Completion, int]:
        """One sample; returns (completion, attempts) or raises :class:`CallFailed`."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._call(messages, params, sample), attempt
            except Exception as e:
                retry, wait_s, message = self._classify(e)
                if not retry or attempt > self.max_retries:
                    raise CallFailed(f"{message} (after {attempt} attempt{'s' * (attempt > 1)})",
                                     attempt) from e
                time.sleep(self._backoff(attempt, wait_s))

    def _backoff(self, attempt: int, retry_after: float) -> float:
        d = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        return min(self.max_backoff_s, max(retry_after, random.uniform(d / 2, d)))

    def _classify(self, e: Exception) -> tuple[bool, float, str]:
        """(retryable, server-requested wait, message) for an exception of one call."""
        oa = self._openai
        if isinstance(e, oa.APITimeoutError):
            return True, 0.0, f"timeout after {self.timeout_s}s"
        if isinstance(e, oa.APIConnectionError):
            return True, 0.0, f"connection error: {e.__cause__ or e}"
        if isinstance(e, oa.APIStatusError):
            status = e.status_code
            retry = status in RETRY_STATUSES or status >= 500
            return retry, _retry_after(e.response.headers), f"HTTP {status}: {_error_message(e)}"
        if isinstance(e, MalformedResponse):
            return False, 0.0, f"malformed response: {e}"
        return False, 0.0, f"{type(e).__name__}: {e}"

    def _call(self, messages: Sequence[Message], params: SamplingParams, sample: int) -> Completion:
        body: dict[str, Any] = {"n": 1, "temperature": params.temperature, "top_p": params.top_p,
                                self.max_tokens_param: params.max_tokens}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed + sample
        extra = {**self.extra_body, **{k: v for k, v in body.items() if k != "n"}}
        raw = self.client.chat.completions.with_raw_response.create(
            model=self.model, messages=list(messages), n=1, extra_body=extra)
        return parse_completion(raw.http_response.content)


def parse_completion(content: bytes) -> Completion:
    """The first choice of a chat-completion body; U+FFFD for bad bytes, raises on bad structure."""
    text = content.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise MalformedResponse(f"body is not JSON ({e}): {text[:120]!r}") from None
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        body = message.get("content")
        if body is not None and not isinstance(body, str):
            raise TypeError("message.content is not a string")
        usage = data.get("usage") or {}
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(body or "", finish, int(usage.get("completion_tokens") or 0),
                          int(usage.get("prompt_tokens") or 0))
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as e:
        raise MalformedResponse(f"unexpected structure ({type(e).__name__}: {e}): {text[:120]!r}") from None


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float(headers.get("retry-after") or 0))
    except (TypeError, ValueError):
        return 0.0


def _error_message(e: Any) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if isinstance(body.get("message"), str):
            return body["message"][:500]
    return str(getattr(e, "message", e))[:500]
