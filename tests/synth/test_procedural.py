"""The procedural teacher: labelled as a non-model, deterministic, planted errors at the configured rates."""

import re

from mimo.generate.base import SamplingParams
from mimo.generate.config import GeneratorConfig, ProceduralOptions, make_generator
from mimo.generate.procedural import ProceduralTeacher
from mimo.problems.toy import generate_toy_problems
from mimo.synth.prompts import (
    general_messages,
    grounded_messages,
    parse_task,
    solve_messages,
)

PROBLEMS = generate_toy_problems(40, 20, seed=3)


def _boxed(text: str) -> str | None:
    found = re.findall(r"\\boxed\{([^{}]*)\}", text)
    return found[-1] if found else None


def test_labelled_as_rule_based_not_a_model():
    gen = make_generator(GeneratorConfig(backend="procedural"), problems=PROBLEMS)
    info = gen.describe()
    assert info["backend"] == "procedural" and info["is_model"] is False
    assert "not a language model" in info["note"]


def test_error_free_teacher_solves_every_given_problem():
    teacher = ProceduralTeacher(ProceduralOptions(wrong_answer_rate=0, no_answer_rate=0, truncate_rate=0),
                                problems=PROBLEMS)
    for p in PROBLEMS:
        (c,) = teacher.generate(solve_messages(p.domain, p.prompt), SamplingParams(seed=1))
        assert c.finish_reason == "stop" and c.completion_tokens > 0
        assert c.text.startswith("<think>\n") and "</think>" in c.text
        if p.domain == "math":
            assert _boxed(c.text) == p.answer
        else:
            assert f"```python\n{p.solution.rstrip()}\n```" in c.text


def test_planted_errors_follow_configured_rates_and_are_deterministic():
    opts = ProceduralOptions(seed=7, wrong_answer_rate=0.3, no_answer_rate=0.1, truncate_rate=0.0)
    teacher = ProceduralTeacher(opts, problems=PROBLEMS)
    math = [p for p in PROBLEMS if p.domain == "math"]
    wrong = none = 0
    for p in math:
        outs = teacher.generate(solve_messages("math", p.prompt), SamplingParams(n=5, seed=2))
        again = teacher.generate(solve_messages("math", p.prompt), SamplingParams(n=5, seed=2))
        assert [c.text for c in outs] == [c.text for c in again]
        for c in outs:
            got = _boxed(c.text)
            none += got is None
            wrong += got is not None and got != p.answer
    total = 5 * len(math)
    assert 0.15 < wrong / total < 0.45 and 0.02 < none / total < 0.25


def test_unknown_problem_gets_an_honest_no_answer():
    teacher = ProceduralTeacher(problems=[])
    (c,) = teacher.generate(solve_messages("math", "What is 2 + 2?"), SamplingParams())
    assert _boxed(c.text) is None and "cannot" in c.text


def test_max_tokens_and_stop_strings_truncate_like_a_backend():
    teacher = ProceduralTeacher(ProceduralOptions(truncate_rate=0))
    msgs = general_messages("Write a short story about a lost key.")
    (short,) = teacher.generate(msgs, SamplingParams(max_tokens=10))
    assert short.finish_reason == "length" and short.completion_tokens <= 10
    (stopped,) = teacher.generate(msgs, SamplingParams(stop=("</think>",)))
    assert stopped.finish_reason == "stop" and "</think>" not in stopped.text


def test_grounded_analysis_rechecks_arithmetic_claims():
    doc = "We know that 12 + 30 = 42 holds. The author then claims 6 * 7 = 40 which we should check."
    msgs = grounded_messages(doc, "Arithmetic")
    assert parse_task(msgs) == ("grounded", doc, "Arithmetic")
    (c,) = ProceduralTeacher(ProceduralOptions(truncate_rate=0)).generate(msgs, SamplingParams())
    assert "12 + 30 = 42: it holds" in c.text and "6 * 7 = 40: it does not hold (it gives 42)" in c.text
