"""Dynamic sampling predicates and the easy pool: solved problems move to the easy pool, which is
drawn with the configured probability; the sampler's state round-trips for resume."""

import pytest

from mimo.rl.grpo.sampling import ProblemSampler, group_pass_rate, is_informative


def test_informative_groups():
    assert is_informative([1.0, 0.0, 0.0])
    assert not is_informative([1.0, 1.0, 1.0]) and not is_informative([0.0, 0.0])
    assert is_informative([0.5, 0.25])  # partial code rewards differ
    assert group_pass_rate([1.0, 0.5, 1.0, 0.0]) == 0.5


def test_easy_pool_gets_solved_problems_and_is_drawn_about_ten_percent():
    ids = [f"p{i}" for i in range(20)]
    s = ProblemSampler(ids, easy_pool_probability=0.1, seed=3)
    for pid in ids[:10]:
        s.record(pid, [1.0] * 4)  # solved in every rollout
    s.record("p10", [1.0, 0.0, 1.0, 1.0])  # not solved everywhere: stays
    assert sorted(s.easy) == sorted(ids[:10]) and len(s.main) == 10
    draws = [s.draw() for _ in range(5000)]
    easy_share = sum(d in set(ids[:10]) for d in draws) / len(draws)
    assert 0.08 < easy_share < 0.12
    # a problem from the easy pool that fails again returns to the main pool
    s.record("p0", [1.0, 0.0])
    assert "p0" in s.main and "p0" not in s.easy


def test_main_pool_is_drawn_without_replacement_within_an_epoch():
    s = ProblemSampler([f"p{i}" for i in range(7)], easy_pool_probability=0.0, seed=1)
    first = [s.draw() for _ in range(7)]
    assert sorted(first) == [f"p{i}" for i in range(7)] and s.epoch == 0
    s.draw()
    assert s.epoch == 1


def test_state_round_trip_continues_identically():
    a = ProblemSampler([f"p{i}" for i in range(12)], seed=5)
    for i in range(4):
        a.record(f"p{i}", [1.0, 1.0])
    for _ in range(9):
        a.draw()
    b = ProblemSampler(["x"], seed=99)
    b.load_state_dict(a.state_dict())
    assert [a.draw() for _ in range(50)] == [b.draw() for _ in range(50)]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        ProblemSampler([])
    with pytest.raises(ValueError, match="unique"):
        ProblemSampler(["a", "a"])
    with pytest.raises(ValueError):
        ProblemSampler(["a"], easy_pool_probability=1.5)
