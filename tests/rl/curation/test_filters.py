"""Rule-based RL curation filters: dedup, proof / multiple-choice format (rules and LLM),
reference solutions in the sandbox, decontamination."""

from __future__ import annotations

import json

import pytest

from mimo.data.decontam import ContaminationIndex
from mimo.problems.records import TestCase
from mimo.rl.curation import (
    check_reference_solutions,
    decontaminate_problems,
    dedup_problems,
    filter_format,
    format_reason,
)
from mimo.rl.curation.filters import normalize_prompt, parse_format_answer
from tests.rl.curation.conftest import (
    ADD,
    ScriptedGenerator,
    code_problem,
    math_problem,
)


def test_dedup_normalizes_case_whitespace_and_sentence_punctuation():
    ps = [math_problem("a", "What is  2+3?"), math_problem("b", "what is 2+3"),
          math_problem("c", "What is 2-3?"),                 # an operator is not punctuation
          math_problem("d", "What is 3.5 + 1?"), math_problem("e", "What is 35 + 1?"),  # decimals kept
          math_problem("f", "What is 3.5 + 1 ?\n"), code_problem("g", prompt="What is 2+3?"),  # other domain
          math_problem("h", "Compute \u201cx\u201d, then   STOP."), math_problem("i", 'compute "x" then stop')]
    kept, removed = dedup_problems(ps)
    assert [p.id for p in kept] == ["a", "c", "d", "e", "g", "h"]
    assert removed == 3
    assert normalize_prompt("Find 1,000.5 items; now!") == "find 1,000.5 items now"
    assert dedup_problems([]) == ([], 0)


PROOFS = [
    "Prove that there are infinitely many primes.",
    "Let $n$ be a positive integer. Show that $n^3 - n$ is divisible by $6$.",
    "Demonstrate that the sum of two odd numbers is even.",
    "Give a proof that $\\sqrt{2}$ is irrational.",
    "Let $a,b>0$. Prove $a^2+b^2 \\ge 2ab$.",
    "(a) Find all real $x$ with $x^2=4$. (b) Show that no rational $x$ satisfies $x^2=2$.",
]
CHOICES = [
    # MATH-500 (precalculus), options after a display
    ("Find the curve defined by the equation\n\\[r^2 \\cos 2 \\theta = 4.\\](A) Line\n(B) Circle\n(C) Parabola\n"
     "(D) Ellipse\n(E) Hyperbola\n\nEnter the letter of the correct option."),
    # MATH-500 / AMC style
    ("Which equation has the largest solution $x$?\n\n$\\textbf{(A)}\\ 3(1 + r)^x = 7\\qquad "
     "\\textbf{(B)}\\ 3(1 + r/10)^x = 7\\qquad \\textbf{(C)}\\ 3(1 + 2r)^x = 7$"),
    "What is $2+2$?\nA. 3\nB. 4\nC. 5\nD. 6",
    "Which is prime?\nA) 4\nB) 6\nC) 7",
    "Pick the largest: A. 10 B. 20 C. 30 D. 40",
    "Which value of $x$ solves $2x=6$? (A) 1 (B) 2 (C) 3 (D) 4",
    "Solve $x+1=3$.\nOptions:\na) 1\nb) 2\nc) 3",
    "Solve $x+1=3$. Choices: (a) 1, (b) 2, (c) 3",
]
ORDINARY = [
    # MATH-500 style prompts with an ordinary final answer
    ("Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer in the "
     "form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$"),
    ("If $f(x) = \\frac{3x-2}{x-2}$, what is the value of $f(-2) +f(-1)+f(0)$? Express your answer as a "
     "common fraction."),
    ("Let $f(x) = x^3 + 3x^2 + 1.$  There exist real numbers $a \\neq 0$ and $b,$ such that\n"
     "\\[f(x) - f(a) = (x - a)^2 (x - b).\\]Enter the ordered pair $(a,b).$"),
    "Five points $A$, $B$, $C$, $D$, and $O$ lie on a flat field. What is the height of the balloon?",
    "[asy]\npair A, B, C;\ndot(A);dot(B);dot(C);\n[/asy]\nFind the area of triangle $ABC$.",
    "Events $A$ and $B$ satisfy $P(A)=0.3$ and $P(B)=0.5$, and $\\mathbb{P}(A)$ is independent. Find $P(A \\cap B)$.",
    "(a) variable named a is set to 3. What is $a^2$?",
    "(a) Find $x$ if $2x=4$. (b) Find $y$ if $y+1=x$.",
    "Points A, B and C are collinear. A. Smith measured AB = 3 and BC = 4. Find AC.",
    "Mark wants to improve his score. How many points does he need?",  # improve != prove
    "How many license plates can be formed with 2 different letters (A through Z)?",
    # code problems
    "Read n and print the n-th Fibonacci number.\nInput: one integer n.\nOutput: F(n).",
    "def add(a, b):\n    \"\"\"Return a + b.\n    >>> add(1, 2)\n    3\n    \"\"\"\n",
    "You are given a list. A. Read the list. Print the maximum.",
]


@pytest.mark.parametrize("prompt", PROOFS)
def test_format_reason_flags_proofs(prompt):
    assert format_reason(prompt) == "proof"


@pytest.mark.parametrize("prompt", CHOICES)
def test_format_reason_flags_multiple_choice(prompt):
    assert format_reason(prompt) == "multiple_choice"


@pytest.mark.parametrize("prompt", ORDINARY)
def test_format_reason_leaves_ordinary_problems(prompt):
    assert format_reason(prompt) is None


def test_format_reason_on_math500(shared_dir):
    rows = [json.loads(line) for line in (shared_dir / "benchmarks" / "math500.jsonl").read_text().splitlines()]
    flagged = {r["unique_id"]: format_reason(r["problem"]) for r in rows if format_reason(r["problem"])}
    # the three problems whose answer is an option letter, and nothing else
    assert set(flagged.values()) == {"multiple_choice"}
    assert sorted(flagged) == sorted(r["unique_id"] for r in rows if r["answer"].startswith("\\text{("))
    assert len(flagged) == 3


def test_filter_format_rule_based_keeps_code():
    ps = [math_problem("p", PROOFS[0]), math_problem("m", CHOICES[2]), math_problem("ok", ORDINARY[0]),
          code_problem("c", prompt="Prove that your program halts; read a and b and print a + b.")]
    kept, counts = filter_format(ps)
    assert [p.id for p in kept] == ["ok", "c"]
    assert counts == {"proof": 1, "multiple_choice": 1}


def test_parse_format_answer():
    assert parse_format_answer("proof") == "proof"
    assert parse_format_answer("<think>It lists options.</think>\n**Multiple choice**.") == "multiple_choice"
    assert parse_format_answer("multiple_choice") == "multiple_choice"
    assert parse_format_answer("OK") == "ok"
    assert parse_format_answer("<think>maybe proof ... ") is None     # reasoning never finished
    assert parse_format_answer("proof or ok, hard to say") is None    # two labels
    assert parse_format_answer("I think it is fine") is None


def test_filter_format_with_llm_and_fallback():
    answers = {"A": "<think>asks for a proof</think>proof", "B": "ok", "C": "no idea",
               "D": RuntimeError("server down"), "E": "multiple choice"}

    def reply(user: str, i: int):
        return answers[user.rsplit("\n", 1)[-1][0]]

    ps = [math_problem("a", "A: find x with x+1=2."),          # LLM: proof (rule: ok)
          math_problem("b", "B: Prove that 1+1=2."),           # LLM: ok (rule: proof)
          math_problem("c", "C: Prove that 2+2=4."),           # unparseable -> rule: proof
          math_problem("d", "D: find y."),                     # failed request -> rule: ok
          math_problem("e", "E: pick one."),                   # LLM: multiple choice
          code_problem("f")]
    gen = ScriptedGenerator(reply)
    kept, counts = filter_format(ps, llm=gen, progress=False)
    assert [p.id for p in kept] == ["b", "d", "f"]
    assert counts.pop("llm_completion_tokens") > 0
    assert counts == {"proof": 2, "multiple_choice": 1, "llm_fallback": 2, "llm_rule_disagree": 3}
    assert len(gen.requests) == 5  # code problems are not asked
    assert "one word" in gen.requests[0][-1]["content"]
    assert filter_format([code_problem("f")], llm=gen, progress=False) == (
        [code_problem("f")], {"proof": 0, "multiple_choice": 0, "llm_fallback": 0, "llm_rule_disagree": 0,
                              "llm_completion_tokens": 0})
    assert len(gen.requests) == 5


def test_check_reference_solutions_in_sandbox():
    ps = [code_problem("ok"),
          code_problem("fails", tests=(TestCase(input="1 2", output="3"), TestCase(input="2 2", output="5"))),
          code_problem("crash", solution="raise SystemExit(1)"),
          code_problem("notests", tests=()),
          code_problem("noref", solution=None),
          code_problem("asserts", solution="def f(x):\n    return 2 * x\n",
                       tests=(TestCase(assert_="assert f(2) == 4"), TestCase(assert_="assert f(0) == 0"))),
          math_problem("m", "What is 1+0?")]
    kept, counts = check_reference_solutions(ps)
    assert [p.id for p in kept] == ["ok", "noref", "asserts", "m"]
    assert counts == {"no_tests": 1, "no_reference": 1, "reference_fails": 2, "invalid_tests": 0}
    assert ADD in kept[0].solution


def test_check_reference_solutions_raises_on_sandbox_failure(monkeypatch):
    from mimo.verifiers import code

    def broken(*a, **kw):
        raise OSError("bwrap exploded")

    monkeypatch.setattr(code, "run_tests", broken)
    with pytest.raises(RuntimeError, match="infrastructure.*bwrap exploded"):
        check_reference_solutions([code_problem("ok")])


def test_decontaminate_problems_counts_per_benchmark():
    bench = {"math500": [("Find the number of ordered pairs of positive integers x and y such that x plus y "
                          "equals twenty and x is even")],
             "humaneval": [("def has_close_elements numbers list float threshold float bool check if in given "
                            "list of numbers are any two numbers closer")]}
    index = ContaminationIndex.build(bench, n=8)
    ps = [math_problem("leak", "Please: find the number of ordered pairs of positive integers x and y such "
                              "that x plus y equals twenty and x is even."),
          math_problem("clean", "Find the number of apples Sam has."),
          code_problem("leak2", prompt="def has_close_elements(numbers: list[float], threshold: float) -> bool: "
                                       "check if in given list of numbers, are any two numbers closer")]
    kept, counts = decontaminate_problems(ps, index)
    assert [p.id for p in kept] == ["clean"]
    assert counts == {"humaneval": 1, "math500": 1}
    assert decontaminate_problems([], index) == ([], {})
