"""Strategy 2: solutions to math and code problems, kept only when verified.

Math responses must match the reference answer (Math-Verify); programs must pass every test of the
problem in the code sandbox. At most ``max_kept_per_problem`` verified responses per problem.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mimo.generate.base import (
    GenerationRequest,
    Generator,
    SamplingParams,
    generate_all,
)
from mimo.problems.records import Problem
from mimo.synth.prompts import solve_messages
from mimo.synth.samples import (
    Candidate,
    StrategyYield,
    SyntheticSample,
    collect_candidates,
    make_sample,
    screen_response,
)

STRATEGY = "problem_solution"


@dataclass
class SolutionConfig:
    """Sampling and verification of problem solutions."""

    splits: tuple[str, ...] = ("train",)  # never the held-out/evaluation split
    samples_per_problem: int = 4
    max_kept_per_problem: int = 2
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.7, max_tokens=2048))
    verify_workers: int = 2
    math_timeout_s: float = 5.0
    code_time_limit_s: float = 2.0
    allow_weak_isolation: bool = False


def _verify(candidates: list[Candidate], problems: dict[str, Problem], cfg: SolutionConfig,
            ) -> tuple[list[str], dict[str, Any]]:
    """Verification status per candidate: ``correct``/``passed`` or a drop reason."""
    from mimo.verifiers.code import score_code
    from mimo.verifiers.math import score_math

    status = [""] * len(candidates)
    math_idx = [i for i, c in enumerate(candidates) if c.domain == "math"]
    code_idx = [i for i, c in enumerate(candidates) if c.domain == "code"]
    info: dict[str, Any] = {}
    if math_idx:
        items = [{"id": str(i), "response": candidates[i].completion.text,
                  "answer": problems[candidates[i].source_id].answer} for i in math_idx]
        for i, s in zip(math_idx, score_math(items, workers=cfg.verify_workers, timeout_s=cfg.math_timeout_s)):
            status[i] = "correct" if s.reward == 1.0 else ("wrong_answer" if s.status == "wrong" else f"math_{s.status}")
    if code_idx:
        from mimo.verifiers.code import isolation_info

        items = [{"id": str(i), "response": candidates[i].completion.text,
                  "tests": [t.to_dict() for t in problems[candidates[i].source_id].tests],
                  "time_limit_s": cfg.code_time_limit_s} for i in code_idx]
        scores = score_code(items, scheme="vanilla", workers=cfg.verify_workers,
                            allow_weak_isolation=cfg.allow_weak_isolation)
        for i, s in zip(code_idx, scores):
            status[i] = "passed" if s.reward == 1.0 else f"code_{s.status}"
        info["sandbox"] = isolation_info()
    return status, info


def generate_solutions(generator: Generator, problems: Sequence[Problem], cfg: SolutionConfig,
                       source_artifact: str = "", log: Callable[[str], None] | None = None,
                       ) -> tuple[list[SyntheticSample], StrategyYield, dict[str, Any]]:
    """Sample solutions for the problems of the configured splits, verify, cap per problem."""
    chosen = [p for p in problems if p.split in cfg.splits]
    by_id = {p.id: p for p in chosen}
    tally = StrategyYield(STRATEGY, prompts=len(chosen))
    params = SamplingParams(**{**cfg.params.to_dict(), "n": cfg.samples_per_problem})
    sources, requests = [], []
    for p in chosen:
        messages = solve_messages(p.domain, p.prompt)
        sources.append(("problem", p.id, p.domain, messages, {}))
        requests.append(GenerationRequest(messages, params, p.id))
    results, _ = generate_all(generator, requests, desc=STRATEGY, log=log)
    screened = []
    for cand in collect_candidates(results, sources, tally):
        reason = screen_response(cand.completion)
        if reason:
            tally.dropped[reason] += 1
        else:
            screened.append(cand)
    statuses, info = _verify(screened, by_id, cfg) if screened else ([], {})
    kept, per_problem = [], Counter()
    for cand, status in zip(screened, statuses):
        if status not in ("correct", "passed"):
            tally.dropped[status] += 1
            continue
        tally.verified += 1
        if per_problem[cand.source_id] >= cfg.max_kept_per_problem:
            tally.dropped["over_per_problem_cap"] += 1
            continue
        per_problem[cand.source_id] += 1
        kept.append(make_sample(STRATEGY, cand, status, generator, params, source_artifact))
    tally.kept = len(kept)
    info["problems_with_a_kept_solution"] = len(per_problem)
    info["by_domain"] = dict(Counter(s.domain for s in kept))
    return kept, tally, info
