"""Test levels (exact 1-D k-means on per-test pass rates), the difficulty filter, histograms."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from mimo.problems.records import Problem, TestCase
from mimo.rl.curation import (
    RolloutStats,
    assign_levels,
    difficulty_filter,
    level_tests,
    pass_rate_histogram,
)
from tests.rl.curation.conftest import code_problem, math_problem


def sse(values, labels):
    total = 0.0
    for lab in set(labels):
        group = [v for v, l2 in zip(values, labels) if l2 == lab]
        mean = sum(group) / len(group)
        total += sum((v - mean) ** 2 for v in group)
    return total


def test_assign_levels_basic_cases():
    assert assign_levels([]) == []
    assert assign_levels([1.0] * 5) == [1] * 5                     # one distinct rate: one level
    assert assign_levels([0.9, 0.1]) == [1, 2]                      # two distinct: two levels, no empty one
    assert assign_levels([0.0, 1.0, 0.95, 0.5, 0.45, 0.05]) == [3, 1, 1, 2, 2, 3]
    assert assign_levels([0.2, 0.8, 0.5], n_levels=1) == [1, 1, 1]
    assert assign_levels([1.0, 0.9375, 0.0625, 0.0, 0.5], n_levels=5) == [1, 2, 4, 5, 3]
    assert assign_levels([1.0, 1.0, 0.98, 0.2]) == [1, 1, 2, 3]
    # the outlier gets its own level; the close pair shares one
    assert assign_levels([1.0, 1.0, 0.98, 0.2], n_levels=2) == [1, 1, 1, 2]
    for bad in ([1.5], [-0.1], [math.nan]):
        with pytest.raises(ValueError):
            assign_levels(bad)
    with pytest.raises(ValueError):
        assign_levels([0.5], n_levels=0)


def test_assign_levels_is_optimal_monotone_contiguous_and_order_free():
    rng = random.Random(0)
    for trial in range(60):
        n_rollouts = rng.choice([4, 8, 16])
        rates = [rng.randint(0, n_rollouts) / n_rollouts for _ in range(rng.randint(1, 9))]
        k = rng.randint(1, 4)
        levels = assign_levels(rates, k)
        distinct = sorted(set(rates))
        used = sorted(set(levels))
        assert used == list(range(1, min(k, len(distinct)) + 1))           # contiguous from 1, none empty
        for (r1, l1), (r2, l2) in itertools.combinations(zip(rates, levels), 2):
            assert (r1 > r2) <= (l1 <= l2) and (r1 == r2) <= (l1 == l2)   # higher rate, easier level
        # brute force: every assignment of the distinct rates to at most k clusters
        best = min(sse(rates, [dict(zip(distinct, lab))[r] for r in rates])
                   for lab in itertools.product(range(min(k, len(distinct))), repeat=len(distinct)))
        assert sse(rates, levels) == pytest.approx(best, abs=1e-12)
        perm = list(range(len(rates)))
        rng.shuffle(perm)
        assert assign_levels([rates[i] for i in perm], k) == [levels[i] for i in perm]


def test_level_tests_returns_a_leveled_copy():
    p = code_problem("c", tests=(TestCase(input="1 2", output="3"), TestCase(input="5 5", output="10"),
                                 TestCase(assert_="assert True", level=2)), metadata={"source_note": "x"})
    q = level_tests(p, [0.25, 1.0, 0.9375])
    assert [t.level for t in q.tests] == [3, 1, 2]
    assert [t.level for t in p.tests] == [1, 1, 2] and "test_pass_rates" not in p.metadata  # original intact
    assert q.metadata["test_pass_rates"] == [0.25, 1.0, 0.9375] and q.metadata["source_note"] == "x"
    assert "kmeans" in q.metadata["test_levels_method"]
    assert q.tests[2].assert_ == "assert True" and q.id == p.id
    assert Problem.from_dict(q.to_dict()) == q
    assert [t.level for t in level_tests(p, [0.5, 0.5, 0.5]).tests] == [1, 1, 1]
    with pytest.raises(ValueError, match="2 pass rates for 3 tests"):
        level_tests(p, [0.5, 0.5])


def stat(pid, domain, passes, n=16, **statuses):
    return RolloutStats(pid, domain, n, passes, passes / n, {"correct": passes, **statuses},
                        [passes / n] if domain == "code" else None)


def test_difficulty_filter():
    ps = [math_problem("m90", "a"), math_problem("m94", "b"), math_problem("m0", "c"),
          code_problem("c16"), code_problem("c15"), math_problem("merr", "d")]
    stats = {s.problem_id: s for s in [
        RolloutStats("m90", "math", 10, 9, 0.9, {"correct": 9, "wrong": 1}),
        stat("m94", "math", 15), stat("m0", "math", 0, wrong=16), stat("c16", "code", 16),
        stat("c15", "code", 15, wrong_answer=1), stat("merr", "math", 0, error=16)]}
    kept, counts = difficulty_filter(ps, stats)
    assert [p.id for p in kept] == ["m90", "m0", "c15"]           # 0.9 itself is kept (drop > 0.9)
    assert counts == {"math_too_easy": 1, "code_all_pass": 1, "scoring_error": 1, "unsolved": 0}
    kept, counts = difficulty_filter(ps, stats, math_max_pass_rate=0.95, code_drop_all_pass=False,
                                     drop_unsolved=True, drop_scoring_errors=False)
    assert [p.id for p in kept] == ["m90", "m94", "c16", "c15"]
    assert counts == {"math_too_easy": 0, "code_all_pass": 0, "scoring_error": 0, "unsolved": 2}
    with pytest.raises(KeyError, match="no rollout stats.*'nope'"):
        difficulty_filter([math_problem("nope", "e")], stats)


def test_pass_rate_histogram():
    stats = {s.problem_id: s for s in [stat("a", "math", 0), stat("b", "math", 16), stat("c", "math", 8),
                                          stat("d", "code", 15), RolloutStats("e", "math", 10, 1, 0.1, {}),
                                          RolloutStats("f", "math", 10, 3, 0.3, {})]}
    h = pass_rate_histogram(stats)
    assert h["edges"] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert h["math"] == [1, 1, 0, 1, 0, 1, 0, 0, 0, 1]   # 0.1 -> [0.1, 0.2), 1.0 -> last bin
    assert h["code"] == [0] * 9 + [1]
    assert pass_rate_histogram(stats, bins=2) == {"edges": [0.0, 0.5, 1.0], "math": [3, 2], "code": [0, 1]}
    assert pass_rate_histogram({}, bins=1) == {"edges": [0.0, 1.0], "math": [0], "code": [0]}
    with pytest.raises(ValueError):
        pass_rate_histogram(stats, bins=0)


def test_levels_without_signal_and_an_empty_curated_set_are_named():
    from mimo.problems.records import Problem
    from mimo.rl.curation import RolloutStats, no_signal_message, signal_by_level

    def prob(pid, level):
        return Problem(id=pid, source="toy", domain="math", prompt=pid, answer="1", metadata={"level": level})

    problems = [prob("a", 1), prob("b", 1), prob("c", 2), prob("d", 2)]
    rates = {"a": 1.0, "b": 1.0, "c": 0.0, "d": 0.25}
    stats = {p: RolloutStats(p, "math", 16, int(16 * r), r, {}) for p, r in rates.items()}
    by_level = signal_by_level(problems, stats)
    assert by_level["1"] == {"problems": 2, "mean_pass_rate": 1.0, "has_signal": False}
    assert by_level["2"]["has_signal"]
    msg = no_signal_message("math", by_level, kept=1)
    assert "level(s): 1 (2 problems" in msg and "kept no problem" not in msg
    assert "kept no problem" in no_signal_message("math", by_level, kept=0)
    assert no_signal_message("math", {"2": by_level["2"]}, kept=3) == ""
