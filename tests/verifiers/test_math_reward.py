"""The math reward: statuses, agreement on MATH-500, deadlines, bad input, the deadline pool."""

from __future__ import annotations

import json
import time

from mimo.verifiers.deadline_pool import ERROR, OK, TIMEOUT, DeadlinePool
from mimo.verifiers.math import MathScore, gold_text, score_math


def statuses(items, **kw):
    return [(s.status, s.reward) for s in score_math(items, **kw)]


def test_statuses():
    items = [
        {"id": 1, "response": "So the answer is $\\boxed{\\frac{1}{2}}$.", "answer": "0.5"},
        {"id": 2, "response": "The answer is \\boxed{3}.", "answer": "4"},
        {"id": 3, "response": "I have no idea.", "answer": "4"},
        {"id": 4, "response": "<think>2+2 is 4</think>Final: \\boxed{4}", "answer": "4"},
        {"id": 5, "response": "<think>2+2 is \\boxed{4} ... still going", "answer": "4"},  # cut off
        {"id": 6, "response": "\\boxed{(3, \\frac{\\pi}{2})}", "answer": "\\left( 3, \\frac{\\pi}{2} \\right)"},
        {"id": 7, "response": "", "answer": "4"},
    ]
    assert statuses(items) == [("correct", 1.0), ("wrong", 0.0), ("no_answer", 0.0), ("correct", 1.0),
                               ("no_answer", 0.0), ("correct", 1.0), ("no_answer", 0.0)]
    assert score_math(items[:1])[0].to_dict() == {"id": 1, "reward": 1.0, "status": "correct"}


def test_math500_references_agree_and_swaps_do_not(shared_dir):
    rows = [json.loads(line) for line in (shared_dir / "benchmarks" / "math500.jsonl").read_text().splitlines()]
    rows = rows[::10]  # 50 problems across subjects and levels (the bench runs all 500)
    right = [{"id": i, "response": r["solution"], "answer": r["answer"]} for i, r in enumerate(rows)]
    swapped = [{"id": i, "response": r["solution"], "answer": rows[(i + 1) % len(rows)]["answer"]}
               for i, r in enumerate(rows) if r["answer"] != rows[(i + 1) % len(rows)]["answer"]]
    assert [s.status for s in score_math(right)] == ["correct"] * len(right)
    assert {s.status for s in score_math(swapped)} == {"wrong"}


def test_deadline_per_item_and_recovery():
    tower = {"id": "tower", "response": "\\boxed{9^{9^{9^{9}}}}", "answer": "1"}  # sympy grinds for seconds
    assert statuses([{"id": 1, "response": "\\boxed{1}", "answer": "1"}]) == [("correct", 1.0)]  # pool up
    start = time.monotonic()
    [s] = score_math([tower], timeout_s=1.0)
    assert s.status == "timeout" and s.reward == 0.0 and "deadline" in s.detail
    assert time.monotonic() - start < 3.0
    assert statuses([{"id": 2, "response": "\\boxed{7}", "answer": "7"}]) == [("correct", 1.0)]  # pool recovered


def test_bad_input():
    start = time.monotonic()
    items = [
        {"id": "huge", "response": "lorem ipsum $x^2$ " * 300_000 + "\\boxed{42}", "answer": "42"},
        {"id": "binary", "response": "\x00\xff\x8f\ufffd\x1b[31m" * 5000, "answer": "42"},
        {"id": "unterminated", "response": "\\boxed{\\frac{1}{", "answer": "42"},
        {"id": "not-a-string", "response": 42, "answer": "42"},
        {"id": "no-gold", "response": "\\boxed{1}", "answer": ""},
        {"id": "null", "response": None, "answer": "1"},
        "not an object",
    ]
    got = statuses(items)
    assert got[0] == ("correct", 1.0)                   # the tail holds the answer
    assert got[1][0] in ("no_answer", "wrong") and got[2][0] in ("no_answer", "wrong")
    assert got[3:] == [("error", 0.0), ("error", 0.0), ("no_answer", 0.0), ("error", 0.0)]
    assert time.monotonic() - start < 20


def test_gold_text():
    assert gold_text("3") == "\\boxed{3}"
    assert gold_text(" $x$ ") == "$x$" and gold_text("\\boxed{1}") == "\\boxed{1}"


def test_deadline_pool_timeouts_and_dead_workers_are_reported():
    with DeadlinePool("time:sleep", workers=2) as pool:
        res = pool.map([0.0, 30.0, 0.0], timeout_s=1.0)
        assert res[0] == (OK, None) and res[1] == (TIMEOUT, None) and res[2] == (OK, None)
        assert pool.restarts == 1
    with DeadlinePool("os:_exit", workers=1) as pool:
        [(kind, message)] = pool.map([3], timeout_s=5.0)
        assert kind == ERROR and "died" in message
    with DeadlinePool("operator:neg", workers=2) as pool:
        assert pool.map([1, 2, 3], timeout_s=5.0) == [(OK, -1), (OK, -2), (OK, -3)]
        assert pool.map(["x"], timeout_s=5.0)[0][0] == ERROR  # an exception is an error, not a result


def test_math_score_dict():
    assert MathScore("a", 0.0, "error", "worker died").to_dict() == {
        "id": "a", "reward": 0.0, "status": "error", "detail": "worker died"}
    assert MathScore("b", 1.0, "correct", "").to_dict() == {"id": "b", "reward": 1.0, "status": "correct"}
