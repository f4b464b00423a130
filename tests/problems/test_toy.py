"""Tests for mimo.problems.toy."""

import re
import subprocess
import sys

import pytest

from mimo.problems.toy import CODE_TEMPLATES, MATH_TEMPLATES, generate_toy_problems

BOXED = re.compile(r"The answer is \\boxed\{(-?\d+)\}\.$")


@pytest.fixture(scope="module")
def problems():
    return generate_toy_problems(400, 120, seed=3)


def test_counts_ids_and_validity(problems):
    maths = [p for p in problems if p.domain == "math"]
    codes = [p for p in problems if p.domain == "code"]
    assert len(maths) == 400 and len(codes) == 120
    assert maths[42].id == "toy-math-00042" and codes[0].id == "toy-code-00000"
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        p.validate()
        assert p.source == "toy" and p.split in ("train", "heldout")


def test_template_counts():
    assert 12 <= len(MATH_TEMPLATES) <= 16 and 8 <= len(CODE_TEMPLATES) <= 12


def test_math_solutions_box_the_answer(problems):
    levels = set()
    for p in problems:
        if p.domain == "math":
            m = BOXED.search(p.solution)
            assert m and m.group(1) == p.answer, p.solution
            assert p.metadata["level"] == p.metadata["steps"]  # level = solution steps
            levels.add(p.metadata["level"])
    assert levels == {1, 2, 3, 4}


def test_math_steps_are_correct_arithmetic(problems):
    # every "Step k: <integer expression> = c." in a word-problem solution holds
    eq = re.compile(r"Step \d+: ([\d +*/()-]+) = (-?\d+)\.")
    checked = 0
    for p in problems:
        for expr, c in eq.findall(p.solution or ""):
            assert eval(expr) == int(c), p.solution  # expr holds only digits and operators
            checked += 1
    assert checked > 0


def test_code_references_pass_their_tests_in_subprocess():
    # every code problem of a fresh set, every test, run as a real `python -c` subprocess
    codes = generate_toy_problems(0, 40, seed=11)
    seen = set()
    for p in codes:
        seen.add(p.metadata["template"])
        assert 4 <= len(p.tests) <= 6 and {t.level for t in p.tests} == {1, 2, 3}
        for t in p.tests:
            r = subprocess.run([sys.executable, "-c", p.solution], input=t.input, capture_output=True,
                               text=True, timeout=10)
            assert r.returncode == 0, r.stderr
            assert r.stdout.rstrip() == t.output.rstrip(), (p.prompt, t)
    assert seen == set(CODE_TEMPLATES)


def test_code_references_all_problems_in_one_process(problems):
    # every code problem, checked by exec with redirected stdin/stdout (fast, broad coverage)
    import contextlib
    import io

    for p in problems:
        if p.domain != "code":
            continue
        for t in p.tests:
            out = io.StringIO()
            old = sys.stdin
            sys.stdin = io.StringIO(t.input)
            try:
                with contextlib.redirect_stdout(out):
                    exec(p.solution, {})
            finally:
                sys.stdin = old
            assert out.getvalue().rstrip() == t.output.rstrip(), (p.prompt, t)


def test_deterministic_by_seed():
    a = generate_toy_problems(50, 30, seed=7)
    assert a == generate_toy_problems(50, 30, seed=7)
    assert a != generate_toy_problems(50, 30, seed=8)


def test_splits_disjoint_and_fraction(problems):
    train = {p.prompt for p in problems if p.split == "train"}
    held = {p.prompt for p in problems if p.split == "heldout"}
    assert not train & held
    assert len({p.prompt for p in problems}) == len(problems)
    assert 0.1 < len(held) / len(problems) < 0.3
    assert all(p.split == "train" for p in generate_toy_problems(20, 10, heldout_fraction=0.0))
    assert all(p.split == "heldout" for p in generate_toy_problems(20, 10, heldout_fraction=1.0))


def test_errors():
    with pytest.raises(ValueError):
        generate_toy_problems(1, 1, heldout_fraction=1.5)
    with pytest.raises(ValueError, match="distinct"):
        generate_toy_problems(0, 5000)
