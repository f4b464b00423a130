"""Difficulty filter on rollout pass rates (MiMo: drop math with pass rate > 0.9 over 16 SFT
rollouts, drop code solved in all 16) and pass-rate histograms for metadata."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from mimo.problems.records import Problem
from mimo.rl.curation.rollouts import RolloutStats

MATH_MAX_PASS_RATE = 0.9


def difficulty_filter(problems: Sequence[Problem], stats: Mapping[str, RolloutStats], *,
                      math_max_pass_rate: float = MATH_MAX_PASS_RATE, code_drop_all_pass: bool = True,
                      drop_unsolved: bool = False, drop_scoring_errors: bool = True,
                      ) -> tuple[list[Problem], dict[str, int]]:
    """Keep the problems that are not too easy for the model the stats come from.

    Drop reasons (counts): ``math_too_easy`` (pass rate > ``math_max_pass_rate``),
    ``code_all_pass`` (every rollout passed every test; when ``code_drop_all_pass``),
    ``scoring_error`` (a rollout's reward could not be computed: the gold answer does not parse or
    the sandbox failed; RL would get no reliable reward there either; when ``drop_scoring_errors``),
    ``unsolved`` (no rollout passed; off by default, meant for stats of a strong reasoning model,
    MiMo's "too hard or wrong answer" step). Raises ``KeyError`` when a problem has no stats.
    """
    missing = [p.id for p in problems if p.id not in stats]
    if missing:
        raise KeyError(f"no rollout stats for {len(missing)} problem(s), e.g. {missing[:5]}; "
                       "run rollout_pass_rates on the same problems first")
    counts: Counter[str] = Counter({k: 0 for k in ("math_too_easy", "code_all_pass", "scoring_error",
                                                   "unsolved")})
    kept = []
    for p in problems:
        s = stats[p.id]
        if drop_scoring_errors and s.statuses.get("error", 0) > 0:
            counts["scoring_error"] += 1
        elif p.domain == "math" and s.pass_rate > math_max_pass_rate:
            counts["math_too_easy"] += 1
        elif p.domain == "code" and code_drop_all_pass and s.n > 0 and s.passes == s.n:
            counts["code_all_pass"] += 1
        elif drop_unsolved and s.passes == 0:
            counts["unsolved"] += 1
        else:
            kept.append(p)
    return kept, dict(counts)


def pass_rate_histogram(stats: Mapping[str, RolloutStats], bins: int = 10) -> dict[str, Any]:
    """Problems per pass-rate bin, per domain: ``{"edges": [0, 0.1, ..., 1], "math": [...],
    "code": [...]}``; bins are [0, 0.1), ..., [0.9, 1.0] (the last one closed)."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    out: dict[str, Any] = {"edges": [round(i / bins, 6) for i in range(bins + 1)],
                           "math": [0] * bins, "code": [0] * bins}
    for s in stats.values():
        b = min(bins - 1, max(0, math.floor(s.pass_rate * bins + 1e-9)))
        out.setdefault(s.domain, [0] * bins)[b] += 1
    return out


def signal_by_level(problems: Sequence[Problem], stats: Mapping[str, RolloutStats]) -> dict[str, dict[str, Any]]:
    """Per difficulty level (``metadata["level"]``; the domain for problems without one): candidates,
    mean pass rate, and whether any problem sits strictly between 0 and 1 (a learnable signal)."""
    groups: dict[str, list[float]] = {}
    for p in problems:
        if p.id in stats:
            groups.setdefault(str(p.metadata.get("level", p.domain)), []).append(stats[p.id].pass_rate)
    return {g: {"problems": len(r), "mean_pass_rate": round(sum(r) / len(r), 4),
                "has_signal": any(0.0 < x < 1.0 for x in r)} for g, r in sorted(groups.items())}


def no_signal_message(domain: str, by_level: Mapping[str, Mapping[str, Any]], kept: int) -> str:
    """A warning naming the levels with no learnable signal, and an empty curated set; '' when fine."""
    parts = []
    dead = [f"{g} ({v['problems']} problems, mean pass rate {v['mean_pass_rate']:.2f})"
            for g, v in by_level.items() if not v["has_signal"]]
    if dead:
        parts.append(f"no learnable signal (every pass rate 0 or 1) at level(s): {', '.join(dead)}")
    if kept == 0:
        parts.append("curation kept no problem: RL has nothing to train on in this domain")
    return f"rl_{domain}_problems: " + "; ".join(parts) if parts else ""
