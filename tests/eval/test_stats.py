"""Intervals over problems, paired differences and per-level rates."""

import math
import random

import pytest

from mimo.eval.metrics import summarize
from mimo.eval.stats import mean_interval, paired_difference, per_group, problem_scores


def _rows(scores: dict[str, list[int]]) -> list[dict]:
    return [{"problem_id": pid, "reward": float(r), "answer": None, "domain": "math"}
            for pid, rs in scores.items() for r in rs]


def test_mean_interval_matches_normal_formula():
    values = [0.0, 0.25, 0.5, 1.0, 1.0]
    ci = mean_interval(values)
    mean = sum(values) / 5
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 4)
    assert ci["mean"] == pytest.approx(mean)
    assert ci["hi"] - ci["mean"] == pytest.approx(1.959964 * sd / math.sqrt(5))
    assert mean_interval([])["mean"] is None
    one = mean_interval([0.5])
    assert one["lo"] == one["hi"] == 0.5


def test_problem_is_the_unit_not_the_sample():
    rows = _rows({"a": [1, 1, 1, 1], "b": [0, 0, 0, 0]})
    assert problem_scores(rows) == {"a": 1.0, "b": 0.0}
    m = summarize(rows, ks=(1, 4))
    lo, hi = m["pass@1_ci95"]
    assert lo < 0.5 < hi
    assert hi - lo > 1.0  # two problems: the interval is wide, however many samples each has


def test_interval_covers_the_true_rate_about_95_percent():
    rng = random.Random(0)
    covered = 0
    for _ in range(400):
        rates = {f"p{i}": rng.random() for i in range(200)}
        rows = _rows({pid: [int(rng.random() < p) for _ in range(4)] for pid, p in rates.items()})
        lo, hi = summarize(rows)["pass@1_ci95"]
        covered += lo <= 0.5 <= hi  # problems drawn from a population whose mean rate is 0.5
    assert 0.90 <= covered / 400 <= 0.99


def test_paired_difference_sees_a_consistent_gain_that_unpaired_noise_would_hide():
    rng = random.Random(1)
    base = {f"p{i}": rng.choice([0.0, 0.25, 0.5, 0.75, 1.0]) for i in range(200)}
    better = {p: min(1.0, s + 0.25) if s < 1.0 else s for p, s in base.items()}
    d = paired_difference(base, better)
    assert d["significant"] and d["mean"] > 0.15
    same = paired_difference(base, dict(base))
    assert not same["significant"] and same["mean"] == 0
    assert paired_difference(base, {"other": 1.0})["n"] == 0


def test_per_group_rates():
    rows = _rows({"a": [1, 1], "b": [0, 1], "c": [0, 0]})
    out = per_group(rows, {"a": 1, "b": 1, "c": 2})
    assert out["1"]["mean"] == pytest.approx(0.75) and out["1"]["n"] == 2
    assert out["2"]["mean"] == 0.0
    assert per_group(_rows({"x": [1]}), {})["?"]["n"] == 1
