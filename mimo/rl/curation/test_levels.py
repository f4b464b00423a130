"""Test-difficulty levels of code problems from per-test pass rates (MiMo's test-difficulty reward).

Each test's pass rate over many model rollouts is clustered into at most ``n_levels`` levels;
level 1 holds the easiest tests (highest pass rates). The clustering is exact 1-D k-means
(minimum within-cluster sum of squares) by dynamic programming over the sorted distinct rates.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from mimo.problems.records import Problem

DEFAULT_N_LEVELS = 3


def method_name(n_levels: int) -> str:
    """The ``test_levels_method`` metadata value."""
    return f"kmeans1d-exact-dp(n_levels={n_levels}, level 1 = highest pass rate)"


def _kmeans_1d(values: Sequence[float], weights: Sequence[int], k: int) -> list[int]:
    """Cluster index (0 = lowest values) of each sorted distinct value: the contiguous partition into
    ``k`` non-empty groups minimizing the weighted within-group sum of squares (exact DP)."""
    m = len(values)
    pw, ps, pq = [0.0], [0.0], [0.0]
    for v, w in zip(values, weights):
        pw.append(pw[-1] + w)
        ps.append(ps[-1] + w * v)
        pq.append(pq[-1] + w * v * v)

    def cost(i: int, j: int) -> float:  # values[i:j]
        w, s = pw[j] - pw[i], ps[j] - ps[i]
        return max(0.0, pq[j] - pq[i] - s * s / w)

    inf = math.inf
    best = [[inf] * (m + 1) for _ in range(k + 1)]
    split = [[0] * (m + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for c in range(1, k + 1):
        for j in range(c, m - (k - c) + 1):
            for i in range(c - 1, j):  # ascending i: ties go to the earliest split
                total = best[c - 1][i] + cost(i, j)
                if total < best[c][j] - 1e-12:
                    best[c][j], split[c][j] = total, i
    labels = [0] * m
    j = m
    for c in range(k, 0, -1):
        i = split[c][j]
        labels[i:j] = [c - 1] * (j - i)
        j = i
    return labels


def assign_levels(pass_rates: Sequence[float], n_levels: int = DEFAULT_N_LEVELS) -> list[int]:
    """Level of each test (1 = easiest) from its pass rate in [0, 1].

    Method: exact 1-D k-means. The distinct rates are sorted; dynamic programming finds the
    partition into ``k = min(n_levels, #distinct rates)`` contiguous groups with the least
    within-group sum of squared deviations (each rate weighted by how many tests have it; this is
    the optimal k-means solution in 1-D, deterministic, no initialization). Groups are numbered
    from the highest rates down: level 1 = easiest. Fewer distinct rates than levels give fewer
    levels; levels are always contiguous from 1 and never empty.
    """
    if n_levels < 1:
        raise ValueError(f"n_levels must be >= 1, got {n_levels}")
    rates = [float(r) for r in pass_rates]
    for r in rates:
        if not (0.0 <= r <= 1.0):  # also rejects NaN
            raise ValueError(f"pass rates must be in [0, 1], got {r}")
    if not rates:
        return []
    counts = Counter(rates)
    distinct = sorted(counts)
    k = min(n_levels, len(distinct))
    labels = _kmeans_1d(distinct, [counts[v] for v in distinct], k)
    level_of = {v: k - lab for v, lab in zip(distinct, labels)}
    return [level_of[r] for r in rates]


def level_tests(problem: Problem, test_pass_rates: Sequence[float],
                n_levels: int = DEFAULT_N_LEVELS) -> Problem:
    """A copy of a code problem whose tests carry the levels of :func:`assign_levels`; its metadata
    gains ``test_pass_rates`` and ``test_levels_method``."""
    if len(test_pass_rates) != len(problem.tests):
        raise ValueError(f"{problem.id}: {len(test_pass_rates)} pass rates for {len(problem.tests)} tests")
    levels = assign_levels(test_pass_rates, n_levels)
    tests = tuple(replace(t, level=lv) for t, lv in zip(problem.tests, levels))
    metadata = {**problem.metadata, "test_pass_rates": [float(r) for r in test_pass_rates],
                "test_levels_method": method_name(n_levels)}
    return replace(problem, tests=tests, metadata=metadata)
