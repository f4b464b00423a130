"""Uncertainty of evaluation numbers: 95 % intervals over problems, paired differences between two
checkpoints on the same problems, and rates per group (difficulty level, template).

Repeated samples of one problem are not independent, so every interval treats the **problem** as
the unit: a problem's score is the mean reward of its samples, and the interval of pass@1 is the
normal interval of the mean of those scores (standard error = sd / sqrt(problems)). A difference
between two checkpoints is paired: the mean of per-problem score differences over the problems both
were evaluated on, with its own interval, so "B beats A" means that interval lies above zero.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

Z95 = 1.959964


def mean_interval(values: Sequence[float]) -> dict:
    """Mean of ``values`` with its 95 % normal interval (``lo``/``hi``; equal to the mean for < 2 values)."""
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "lo": None, "hi": None, "se": None}
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return {"n": n, "mean": mean, "lo": mean - Z95 * se, "hi": mean + Z95 * se, "se": se}


def problem_scores(rows: Iterable[Mapping]) -> dict[str, float]:
    """Per-problem mean reward (a sample counts as correct when its reward is 1)."""
    sums: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        sums[str(r["problem_id"])].append(1.0 if float(r["reward"]) >= 1.0 else 0.0)
    return {pid: sum(v) / len(v) for pid, v in sums.items()}


def pass1_interval(rows: Iterable[Mapping]) -> dict:
    """pass@1 (mean over problems of the per-problem mean) with its 95 % interval."""
    return mean_interval(list(problem_scores(rows).values()))


def paired_difference(a: Mapping[str, float], b: Mapping[str, float]) -> dict:
    """``b - a`` over the problems both scored, with its 95 % interval and whether it excludes zero."""
    common = sorted(set(a) & set(b))
    out = mean_interval([b[p] - a[p] for p in common])
    out["significant"] = out["n"] > 1 and (out["lo"] > 0 or out["hi"] < 0)
    return out


def per_group(rows: Iterable[Mapping], group_of: Mapping[str, object]) -> dict[str, dict]:
    """pass@1 with its interval for every group (``group_of[problem_id]``; unknown ids go to ``"?"``)."""
    by_group: dict[str, dict[str, float]] = defaultdict(dict)
    for pid, score in problem_scores(rows).items():
        by_group[str(group_of.get(pid, "?"))][pid] = score
    return {g: mean_interval(list(scores.values())) for g, scores in sorted(by_group.items())}


def rounded(stats: Mapping, digits: int = 4) -> dict:
    """``stats`` with floats rounded (for metadata and JSON)."""
    return {k: round(v, digits) if isinstance(v, float) else v for k, v in stats.items()}
