"""Rollout pass rates end to end: the procedural teacher, Math-Verify and the code sandbox."""

from __future__ import annotations

import pytest

from mimo.generate.config import GeneratorConfig, ProceduralOptions, make_generator
from mimo.problems.records import TestCase
from mimo.problems.toy import generate_toy_problems
from mimo.rl.curation import (
    RolloutStats,
    check_reference_solutions,
    difficulty_filter,
    level_tests,
    pass_rate_histogram,
    rollout_pass_rates,
)
from mimo.rl.curation.rollouts import GENERATION_ERROR
from mimo.synth.prompts import SYSTEM_PROMPT, rollout_messages
from tests.rl.curation.conftest import (
    ADD_TESTS,
    ScriptedGenerator,
    code_problem,
    math_problem,
)

EXACT = ProceduralOptions(wrong_answer_rate=0.0, no_answer_rate=0.0, truncate_rate=0.0)


def test_end_to_end_with_the_procedural_teacher():
    toy = generate_toy_problems(3, 2, seed=1)
    bad_ref = code_problem("badref", tests=ADD_TESTS + (TestCase(input="2 2", output="5"),))
    unknown = math_problem("unknown", "What is the smallest prime larger than 100?", answer="101")  # no solution
    problems = [*toy, bad_ref, unknown]
    teacher = make_generator(GeneratorConfig(backend="procedural", procedural=EXACT), problems=problems)
    stats, usage = rollout_pass_rates(problems, teacher, n=16, progress=False, chunk_size=3)

    assert list(stats) == [p.id for p in problems]
    assert usage.requests == len(problems) and usage.samples == 16 * len(problems)
    for p in toy:  # the teacher rewrites the reference: every rollout is right
        s = stats[p.id]
        assert (s.n, s.passes, s.pass_rate, s.domain) == (16, 16, 1.0, p.domain)
        assert s.statuses["correct"] == 16 and s.statuses[GENERATION_ERROR] == 0
        assert s.test_pass_rates == ([1.0] * len(p.tests) if p.domain == "code" else None)
    s = stats["badref"]  # the reference program fails the last test, so does every rollout
    assert (s.passes, s.pass_rate, s.test_pass_rates) == (0, 0.0, [1.0, 1.0, 1.0, 0.0])
    assert s.statuses["wrong_answer"] == 16
    assert stats["unknown"].pass_rate == 0.0 and stats["unknown"].statuses["no_answer"] == 16

    # the curation steps downstream of the stats
    kept, counts = difficulty_filter(problems, stats)
    assert [p.id for p in kept] == ["badref", "unknown"]
    assert counts["math_too_easy"] == 3 and counts["code_all_pass"] == 2
    leveled = level_tests(bad_ref, s.test_pass_rates)
    assert [t.level for t in leveled.tests] == [1, 1, 1, 2]
    assert [p.id for p in check_reference_solutions(problems)[0]] == [p.id for p in problems if p.id != "badref"]
    hist = pass_rate_histogram(stats)
    assert hist["math"][9] == 3 and hist["math"][0] == 1 and hist["code"] == [1] + [0] * 8 + [2]


def test_planted_errors_give_fractional_consistent_rates():
    problems = generate_toy_problems(2, 2, seed=3)
    teacher = make_generator(GeneratorConfig(backend="procedural",
                                             procedural=ProceduralOptions(wrong_answer_rate=0.4, seed=1)),
                             problems=problems)
    stats, _ = rollout_pass_rates(problems, teacher, n=8, progress=False)
    assert any(0.0 < s.pass_rate < 1.0 for s in stats.values())
    for s in stats.values():
        assert sum(s.statuses.values()) == 8 and s.statuses.get("correct", 0) == s.passes
        if s.domain == "code":
            assert len(s.test_pass_rates) == 5
            assert all(s.pass_rate <= r <= 1.0 for r in s.test_pass_rates)  # a pass passes every test
            assert all(abs(r * 8 - round(r * 8)) < 1e-9 for r in s.test_pass_rates)
        assert RolloutStats.from_dict(s.to_dict()) == s


def test_failed_generations_count_as_failed_rollouts():
    def reply(user: str, i: int):
        if "sum" in user:
            return RuntimeError("server down")      # the whole request fails
        return None if i % 2 else "<think>1+1</think>The answer is \\boxed{2}."  # odd samples fail

    problems = [math_problem("m", "What is 1+1?", answer="2"), code_problem("c")]
    gen = ScriptedGenerator(reply)
    stats, usage = rollout_pass_rates(problems, gen, n=4, progress=False, system_prompt="Be brief.")
    assert stats["m"].passes == 2 and stats["m"].statuses == {"correct": 2, GENERATION_ERROR: 2}
    assert stats["c"].passes == 0 and stats["c"].statuses == {GENERATION_ERROR: 4}
    assert stats["c"].test_pass_rates == [0.0, 0.0, 0.0]
    assert usage.failed_requests == 1
    assert gen.requests[0][0] == {"role": "system", "content": "Be brief."}


def test_rollout_messages_and_input_checks():
    p = math_problem("m", "What is 1+1?", answer="2")
    assert rollout_messages(p)[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert rollout_messages(p)[-1]["content"].endswith("What is 1+1?")
    assert [m["role"] for m in rollout_messages(p, "")] == ["user"]
    gen = ScriptedGenerator(lambda user, i: "x")
    with pytest.raises(ValueError, match="duplicate"):
        rollout_pass_rates([p, p], gen, progress=False)
    with pytest.raises(ValueError, match="without answer"):
        rollout_pass_rates([math_problem("x", "Q?", answer="")], gen, progress=False)
    with pytest.raises(ValueError, match="tests cannot be scored"):
        rollout_pass_rates([code_problem("c", tests=())], gen, progress=False)
    assert gen.requests == []  # nothing generated before the checks pass
