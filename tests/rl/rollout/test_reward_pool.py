"""The reward pool's deadlines with the real rewards: a code group whose tests are slow but each
within its own limit is scored, a hung worker is masked, and code rewards reach the judge service."""

from __future__ import annotations

import threading
import time

import pytest

from mimo.rl.rollout.rewards import MiMoRewardFn, RewardPool
from mimo.rl.rollout.types import REWARD_TIMEOUT

SLOW_SUM = "```python\nimport time\ntime.sleep(0.6)\na, b = map(int, input().split())\nprint(a + b)\n```"
TESTS = [{"input": f"{i} 1", "output": str(i + 1), "level": 1} for i in range(3)]
PAYLOAD = {"tests": TESTS, "time_limit_s": 2.0}


def score(pool: RewardPool, domain: str, payload: dict, responses: list[str]):
    return pool.score_many([(domain, payload, responses)])[0]


def test_slow_tests_within_their_limits_are_scored_not_masked():
    # 2 programs x 3 tests x 0.6 s take ~4 s: far past the 1 s margin, within the per-test limits
    fn = MiMoRewardFn(code_scheme="strict")
    with_budget = RewardPool(fn, workers=1, timeout_s=1.0)
    try:
        assert with_budget.deadline_s("code", PAYLOAD, 2) == pytest.approx(1.0 + 2 * 3 * 2.5)
        assert with_budget.deadline_s("math", {"answer": "2"}, 8) == 1.0
        t0 = time.perf_counter()
        out = score(with_budget, "code", PAYLOAD, [SLOW_SUM, SLOW_SUM])
        took = time.perf_counter() - t0
    finally:
        with_budget.close()
    assert out.failure == "", out.detail
    assert out.scores == [(1.0, "correct"), (1.0, "correct")]
    assert took > 3.0  # the tests really ran past the fixed margin


def test_a_hung_worker_is_still_masked_at_the_deadline():
    pool = RewardPool(MiMoRewardFn(hang_s=30.0), workers=1, timeout_s=1.0)
    try:
        t0 = time.perf_counter()
        out = score(pool, "math", {"answer": "2"}, ["\\boxed{2}"])
    finally:
        pool.close()
    assert out.failure == REWARD_TIMEOUT and out.scores == [None]
    assert "deadline of 1s" in out.detail and time.perf_counter() - t0 < 20


def test_code_rewards_go_to_the_judge_service(monkeypatch):
    from mimo.verifiers.sandbox.service import make_server

    server = make_server("127.0.0.1", 0, workers=2, token="s3cret")
    seen: list[str] = []
    handle = server.RequestHandlerClass.do_POST

    def counting(self):
        seen.append(self.path)
        return handle(self)

    monkeypatch.setattr(server.RequestHandlerClass, "do_POST", counting)
    monkeypatch.setenv("MIMO_JUDGE_TOKEN", "s3cret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fn = MiMoRewardFn(code_scheme="strict", judge_url=server.url)
        right = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
        wrong = "```python\nprint(0)\n```"
        assert fn.score("code", {"tests": TESTS}, [right, wrong]) == [(1.0, "correct"), (0.0, "wrong_answer")]
        assert seen == ["/v1/score"]
        monkeypatch.setenv("MIMO_JUDGE_TOKEN", "wrong")
        with pytest.raises(ValueError, match="401"):  # in a reward worker: the group is masked, never scored 0
            fn.score("code", {"tests": TESTS}, [right])
    finally:
        server.shutdown()
        server.server_close()
