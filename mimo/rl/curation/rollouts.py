"""Pass rates of RL problems over ``n`` rollouts of a model (MiMo: the SFT model, 16 rollouts).

Each problem is asked in the same conversation as the SFT solution data
(:func:`mimo.synth.prompts.solve_messages`), sampled ``n`` times, and scored with the RL rewards:
Math-Verify for math, the code sandbox (vanilla scheme, per-test results) for code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mimo.generate.base import (
    GenerationRequest,
    GenerationResult,
    Generator,
    SamplingParams,
    TokenUsage,
    generate_all,
)
from mimo.problems.records import Problem
from mimo.synth.prompts import rollout_messages

DEFAULT_ROLLOUT_SAMPLING = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=4096)
GENERATION_ERROR = "generation_error"  # status of a rollout whose generation failed


@dataclass
class RolloutStats:
    """Outcome of ``n`` rollouts on one problem.

    ``statuses`` counts reward statuses (``correct``, ``wrong``, ``wrong_answer``, ``timeout``,
    ... and ``error`` for a scoring failure) plus ``generation_error`` for failed generations.
    ``test_pass_rates`` (code only): per test, the fraction of the ``n`` rollouts passing it.
    """

    problem_id: str
    domain: str
    n: int
    passes: int
    pass_rate: float
    statuses: dict[str, int]
    test_pass_rates: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutStats:
        """Inverse of :meth:`to_dict`."""
        rates = d.get("test_pass_rates")
        return cls(str(d["problem_id"]), str(d["domain"]), int(d["n"]), int(d["passes"]),
                   float(d["pass_rate"]), {str(k): int(v) for k, v in dict(d["statuses"]).items()},
                   None if rates is None else [float(r) for r in rates])


def _check_problems(problems: Sequence[Problem]) -> None:
    from mimo.verifiers.code import parse_tests

    seen: set[str] = set()
    for p in problems:
        if p.id in seen:
            raise ValueError(f"duplicate problem id {p.id!r}")
        seen.add(p.id)
        if p.domain == "math" and not (p.answer or "").strip():
            raise ValueError(f"{p.id}: math problem without answer cannot be scored")
        if p.domain == "code":
            try:
                parse_tests([t.to_dict() for t in p.tests])
            except ValueError as e:
                raise ValueError(f"{p.id}: code problem tests cannot be scored: {e}") from None
        if p.domain not in ("math", "code"):
            raise ValueError(f"{p.id}: unknown domain {p.domain!r}")


def _score_chunk(problems: Sequence[Problem], results: Sequence[GenerationResult], n: int,
                 math_workers: int, code_workers: int, allow_weak_isolation: bool) -> list[RolloutStats]:
    """Score ``n`` rollouts per problem (missing or failed samples count as generation errors)."""
    from mimo.verifiers.code import score_code
    from mimo.verifiers.math import score_math

    math_items: list[dict[str, Any]] = []
    code_items: list[dict[str, Any]] = []
    math_owner: list[int] = []  # problem index of each item
    code_owner: list[int] = []
    statuses: list[Counter[str]] = [Counter() for _ in problems]
    for pi, (p, res) in enumerate(zip(problems, results)):
        texts = [c.text for c in res.completions if c.finish_reason != "error"][:n]
        statuses[pi][GENERATION_ERROR] += n - len(texts)
        for text in texts:
            if p.domain == "math":
                math_owner.append(pi)
                math_items.append({"id": p.id, "response": text, "answer": p.answer})
            else:
                code_owner.append(pi)
                code_items.append({"id": p.id, "response": text, "tests": [t.to_dict() for t in p.tests]})
    passes = [0] * len(problems)
    test_passes = [[0] * len(p.tests) for p in problems]
    if math_items:
        for pi, s in zip(math_owner, score_math(math_items, workers=math_workers)):
            statuses[pi][s.status] += 1
            passes[pi] += s.reward == 1.0
    if code_items:
        scores = score_code(code_items, scheme="vanilla", workers=code_workers,
                            allow_weak_isolation=allow_weak_isolation)
        for pi, s in zip(code_owner, scores):
            statuses[pi][s.status] += 1
            passes[pi] += s.reward == 1.0
            for j, ok in enumerate(s.passed[: len(test_passes[pi])]):
                test_passes[pi][j] += bool(ok)
    return [RolloutStats(p.id, p.domain, n, passes[pi], passes[pi] / n, dict(sorted(statuses[pi].items())),
                         [c / n for c in test_passes[pi]] if p.domain == "code" else None)
            for pi, p in enumerate(problems)]


def rollout_pass_rates(problems: Sequence[Problem], generator: Generator, *, n: int = 16,
                       sampling: SamplingParams | None = None, system_prompt: str | None = None,
                       math_workers: int = 2, code_workers: int = 2, allow_weak_isolation: bool = False,
                       progress: bool = True, chunk_size: int = 256,
                       log: Callable[[str], None] | None = None,
                       ) -> tuple[dict[str, RolloutStats], TokenUsage]:
    """Sample ``n`` responses per problem with ``generator`` and score them.

    Returns ``(stats by problem id, token usage)``. ``sampling`` defaults to
    :data:`DEFAULT_ROLLOUT_SAMPLING` (temperature 1, 4096 tokens); its ``n`` is replaced by ``n``.
    Problems go through in chunks of ``chunk_size`` (generate, then score) so responses never all
    sit in memory. A failed generation is a failed rollout, counted as ``generation_error``.
    Raises ``ValueError`` up front for duplicate ids, math without answer, or unusable tests.
    """
    if n < 1 or chunk_size < 1:
        raise ValueError(f"n and chunk_size must be >= 1, got {n}, {chunk_size}")
    _check_problems(problems)
    params = SamplingParams(**{**(sampling or DEFAULT_ROLLOUT_SAMPLING).to_dict(), "n": n})
    usage = TokenUsage()
    stats: dict[str, RolloutStats] = {}
    for start in range(0, len(problems), chunk_size):
        chunk = problems[start: start + chunk_size]
        requests = [GenerationRequest(rollout_messages(p, system_prompt), params, p.id) for p in chunk]
        desc = f"rl_rollouts {start + len(chunk)}/{len(problems)}"
        results, chunk_usage = generate_all(generator, requests, desc=desc, show_progress=progress, log=log)
        usage.merge(chunk_usage)
        for s in _score_chunk(chunk, results, n, math_workers, code_workers, allow_weak_isolation):
            stats[s.problem_id] = s
    return stats, usage
