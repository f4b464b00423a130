"""The evaluation machinery checks itself: replaying reference solutions scores 100% on MATH-500 and
HumanEval (real Math-Verify, real bubblewrap sandbox); a shuffled replay scores about 0%; pass@k is
the unbiased estimator; avg@n and maj@n come from the same per-sample rows."""

from math import comb

import pyarrow as pa
import pytest

from mimo.eval import (
    SAMPLE_SCHEMA,
    ReplayGenerator,
    evaluate,
    extract_boxed,
    pass_at_k,
    summarize,
)
from mimo.generate.base import SamplingParams
from mimo.problems.benchmarks import load_humaneval, load_math500

GREEDY = SamplingParams(temperature=0.0, max_tokens=16)


def test_pass_at_k_matches_the_definition():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    # probability that k draws without replacement contain a correct one
    assert pass_at_k(10, 3, 4) == pytest.approx(1 - comb(7, 4) / comb(10, 4))
    assert pass_at_k(5, 4, 2) == 1.0  # fewer than k wrong samples: always hit
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)


def test_extract_boxed_and_summarize():
    assert extract_boxed("so \\boxed{\\frac{1}{2}} and finally \\boxed{3}") == "3"
    assert extract_boxed("<think>\\boxed{1}") is None and extract_boxed("no box") is None
    assert extract_boxed("\\boxed{\\{1,2\\}}") == "\\{1,2\\}"
    rows = [{"problem_id": "a", "reward": r, "answer": ans, "domain": "math"}
            for r, ans in [(1.0, "5"), (0.0, "4"), (1.0, "5"), (0.0, "7")]]
    rows += [{"problem_id": "b", "reward": 0.0, "answer": ans, "domain": "math"} for ans in ["1", "1", "2", "3"]]
    m = summarize(rows, ks=(1, 2))
    assert m["avg@4"] == pytest.approx(2 / 8) and m["pass@1"] == pytest.approx(0.25)
    assert m["pass@2"] == pytest.approx((1 - comb(2, 2) / comb(4, 2)) / 2)
    assert m["maj@4"] == pytest.approx(0.5)  # a: majority "5" is correct; b: majority "1" is wrong


@pytest.fixture(scope="module")
def math500():
    return load_math500()


def test_replay_of_references_scores_100_percent_on_math500(math500):
    rows, usage = evaluate(math500, ReplayGenerator(math500), n=1, sampling=GREEDY, show_progress=False)
    assert len(rows) == 500 and usage.requests == 500
    assert summarize(rows)["avg@1"] == 1.0, [r for r in rows if r["reward"] != 1.0][:3]
    pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)  # the per-sample parquet schema holds them


def test_shuffled_replay_scores_about_zero_on_math500(math500):
    rows, _ = evaluate(math500, ReplayGenerator(math500, shuffle=True), n=1, sampling=GREEDY, show_progress=False)
    assert summarize(rows)["avg@1"] < 0.05  # only coincidentally equal answers score


def test_replay_on_humaneval_in_the_sandbox():
    problems = load_humaneval()
    rows, _ = evaluate(problems, ReplayGenerator(problems), n=1, sampling=GREEDY, show_progress=False)
    assert summarize(rows)["avg@1"] == 1.0, [(r["problem_id"], r["status"]) for r in rows if r["reward"] != 1.0][:5]
    shuffled, _ = evaluate(problems, ReplayGenerator(problems, shuffle=True), n=1, sampling=GREEDY,
                           show_progress=False)
    assert summarize(shuffled)["avg@1"] < 0.05


def test_repeats_and_generation_errors_are_rows_not_gaps(math500):
    few = math500[:3]
    rows, _ = evaluate(few, ReplayGenerator(few[:2]), n=4, sampling=SamplingParams(temperature=0.6, max_tokens=8),
                       show_progress=False)
    assert len(rows) == 12 and {r["sample_index"] for r in rows} == {0, 1, 2, 3}
    third = [r for r in rows if r["problem_id"] == few[2].id]
    assert all(r["reward"] == 0.0 and r["status"] == "generation_error" for r in third)
    assert summarize(rows, ks=(1, 4))["pass@4"] == pytest.approx(2 / 3)
