"""The code reward: program extraction, test parsing, schemes, end-to-end scoring, bad input."""

from __future__ import annotations

import gzip
import json
import time

import pytest

from mimo.problems.records import TestCase
from mimo.verifiers.answer import extract_program, final_text
from mimo.verifiers.code import (
    CodeScore,
    isolation_info,
    level_weights,
    parse_tests,
    scheme_reward,
    score_code,
)
from mimo.verifiers.humaneval import split_check

ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
STDIO = [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4", "output": "6"}, {"input": "0 0", "output": "0"}]


def fenced(program: str, lang: str = "python") -> str:
    return f"Here is my solution.\n```{lang}\n{program.rstrip()}\n```\nDone."


def test_extract_program_takes_the_last_python_block():
    text = "```python\nprint(1)\n```\nbetter:\n```py\nprint(2)\n```\n```text\nnot code\n```"
    assert extract_program(text) == "print(2)"
    assert extract_program("print(3)") == "print(3)"                      # no fence: the whole response
    assert extract_program("```\nprint(4)\n```") == "print(4)"            # a bare fence counts
    assert extract_program("```cpp\nint main(){}\n```") == ""            # fences, none of them Python
    assert extract_program("```python\nprint(5)\nprint(6)") == "print(5)\nprint(6)"  # unterminated fence
    assert extract_program("<think>```python\nprint(0)\n```</think>```python\nprint(7)\n```") == "print(7)"
    assert extract_program("```python\nprint(9)```") == "print(9)```"  # a fence closes on its own line
    assert extract_program("<think>still thinking ```python\nprint(8)") == ""  # reasoning cut off
    assert final_text("plain") == "plain" and final_text("<think>x") is None


def test_parse_tests_accepts_testcase_dicts_with_none_keys():
    raw = [TestCase(input="1 2", output="3").to_dict(), TestCase(assert_="assert f() == 1", level=3).to_dict(),
           {"input": None, "output": "x"}, {"assert": "assert True", "level": None}]
    tests = parse_tests(raw)
    assert [(t.is_assert, t.level) for t in tests] == [(False, 1), (True, 3), (False, 1), (True, 1)]
    assert tests[2].input == ""
    for bad in ([], [{"input": "1"}], [{"output": "1", "level": 0}], [{"assert": 3}], "tests", [7]):
        with pytest.raises(ValueError):
            parse_tests(bad)


def test_schemes():
    passed, levels = [True, True, False, True], [1, 1, 2, 3]
    assert scheme_reward(passed, levels, "vanilla") == 0.0
    assert scheme_reward([True] * 4, levels, "vanilla") == 1.0
    assert scheme_reward(passed, levels, "strict") == pytest.approx(1 / 3)  # level 2 fails: stops there
    assert scheme_reward(passed, levels, "soft") == pytest.approx(2 / 3)    # levels 1 and 3 full, 2 empty
    assert scheme_reward([True, False, True, True], levels, "soft") == pytest.approx(1 / 6 + 1 / 3 + 1 / 3)
    assert scheme_reward(passed, levels, "strict", [0.2, 0.3, 0.5]) == pytest.approx(0.2)
    assert scheme_reward(passed, levels, "soft", {1: 1, 2: 1, 3: 2}) == pytest.approx(0.25 + 0.5)
    assert level_weights([2, 5, 5]) == {2: 0.5, 5: 0.5}                     # equal over the levels present
    assert level_weights([1, 3], [0.2, 0.3, 0.5]) == pytest.approx({1: 0.2 / 0.7, 3: 0.5 / 0.7})
    with pytest.raises(ValueError):
        scheme_reward(passed, levels, "lenient")
    with pytest.raises(ValueError):
        level_weights([1], [0.0])


def test_stdio_scoring_end_to_end():
    items = [
        {"id": "ok", "response": fenced(ADD), "tests": STDIO},
        {"id": "ws", "response": fenced("a, b = map(int, input().split())\nprint(a + b, '  ')\nprint()\n"),
         "tests": STDIO},
        {"id": "wrong", "response": fenced("a, b = map(int, input().split())\nprint(a - b)\n"), "tests": STDIO},
        {"id": "crash", "response": fenced("raise SystemExit(3)"), "tests": STDIO[:1]},
        {"id": "syntax", "response": fenced("def broken(:\n"), "tests": STDIO},
        {"id": "nocode", "response": "I cannot solve this.```cpp\nint x;\n```", "tests": STDIO},
        {"id": "bad", "response": "print(1)", "tests": []},
    ]
    scores = {s.id: s for s in score_code(items)}
    assert scores["ok"].reward == 1.0 and scores["ok"].status == "correct" and scores["ok"].passed == [True] * 3
    assert scores["ws"].reward == 1.0  # trailing whitespace and blank lines do not matter
    assert scores["wrong"].reward == 0.0 and scores["wrong"].passed == [False, False, True]
    assert scores["wrong"].status == "wrong_answer"
    assert scores["crash"].status == "runtime_error"
    assert scores["syntax"].status == "syntax_error" and scores["syntax"].test_status == ["syntax_error"] * 3
    assert scores["nocode"].status == "no_code" and scores["nocode"].reward == 0.0
    assert scores["bad"].status == "invalid"
    assert set(scores["ok"].to_dict()) >= {"id", "reward", "passed", "status"}


def test_levels_and_schemes_on_real_runs():
    tests = [{"input": "1 2", "output": "3", "level": 1}, {"input": "5 5", "output": "10", "level": 1},
             {"input": "100 1", "output": "101", "level": 2}, {"input": "7 7", "output": "14", "level": 3}]
    almost = "a, b = map(int, input().split())\nprint(a + b if a < 50 else 0)\n"
    item = {"id": 1, "response": fenced(almost), "tests": tests}
    [vanilla] = score_code([item])
    [strict] = score_code([item], scheme="strict")
    [soft] = score_code([item], scheme="soft", level_scores=[1, 1, 2])
    assert vanilla.passed == strict.passed == soft.passed == [True, True, False, True]
    assert (vanilla.reward, strict.reward, soft.reward) == (0.0, pytest.approx(1 / 3), pytest.approx(0.25 + 0.5))


def test_function_style_asserts(shared_dir):
    with gzip.open(shared_dir / "benchmarks" / "humaneval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f][:6]
    items, swapped = [], []
    for i, row in enumerate(rows):
        tests = [{"assert": t} for t in split_check(row["test"], row["entry_point"])]
        assert len(tests) >= 3
        items.append({"id": i, "response": fenced(row["prompt"] + row["canonical_solution"]), "tests": tests})
        other = rows[(i + 1) % len(rows)]
        wrong = other["prompt"] + other["canonical_solution"] + f"\n{row['entry_point']} = {other['entry_point']}\n"
        swapped.append({"id": i, "response": fenced(wrong), "tests": tests})
    assert [s.reward for s in score_code(items)] == [1.0] * len(items)
    assert [s.reward for s in score_code(swapped)] == [0.0] * len(items)
    # the records' own single-test form (whole check + check(entry)) also works
    whole = [{"id": 0, "response": items[0]["response"],
              "tests": [TestCase(assert_=f"{rows[0]['test']}\ncheck({rows[0]['entry_point']})").to_dict()]}]
    assert score_code(whole)[0].reward == 1.0


def test_classes_and_mutation_through_handles():
    program = ("class Counter:\n    def __init__(self, start):\n        self.n = start\n"
               "    def add(self, k):\n        self.n += k\n        return self.n\n"
               "def sort_in_place(xs):\n    xs.sort()\n")
    tests = [{"assert": "c = Counter(5)\nc.add(2)\nassert c.add(3) == 10\nassert c.n == 10"},
             {"assert": "xs = [3, 1, 2]\nsort_in_place(xs)\nassert xs == [1, 2, 3]"},
             {"assert": "assert Counter(1) == Counter(1)"}]  # opaque objects cannot be compared
    [score] = score_code([{"id": 0, "response": program, "tests": tests}])
    assert score.passed == [True, True, False]


def test_bad_responses_get_zero_fast():
    start = time.monotonic()
    items = [
        {"id": "empty", "response": "", "tests": STDIO},
        {"id": "huge", "response": "x = 1\n" * 400_000 + "print(3)\n", "tests": STDIO[:1]},
        {"id": "binary", "response": "\x00\x8f\xff\ufffd" * 1000, "tests": STDIO[:1]},
        {"id": "unterminated", "response": "```python\ndef f(:\n", "tests": STDIO[:1]},
        {"id": "none", "response": None, "tests": STDIO[:1]},
        {"id": "limits", "response": ADD, "tests": STDIO[:1], "time_limit_s": -1},
    ]
    scores = {s.id: s for s in score_code(items)}
    assert {k: s.status for k, s in scores.items()} == {
        "empty": "no_code", "huge": "memory_limit", "binary": "syntax_error", "unterminated": "syntax_error",
        "none": "invalid", "limits": "invalid"}
    assert all(s.reward == 0.0 for s in scores.values())
    assert time.monotonic() - start < 20


def test_hostile_programs_get_zero_within_the_deadline():
    hostile = {
        "loop": "while True: pass",
        "fork": "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass",
        "alloc": "x = []\nwhile True: x.append(' ' * 10**7)",
        "write": "open('/etc/mimo-pwned', 'w').write('x')\nprint(3)",
        "socket": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\nprint(3)",
        "env": "import os\nprint(os.environ.get('HOME'), os.environ.get('MIMO_STATE_DIR'))",
    }
    items = [{"id": k, "response": v, "tests": [{"input": "", "output": "3"}], "time_limit_s": 0.5}
             for k, v in hostile.items()]
    start = time.monotonic()
    scores = {s.id: s for s in score_code(items)}
    assert time.monotonic() - start < 12
    assert all(s.reward == 0.0 for s in scores.values()), scores
    assert scores["loop"].status == "timeout" and scores["alloc"].status == "memory_limit"
    assert scores["write"].status == scores["socket"].status == "runtime_error"
    assert scores["env"].status == "wrong_answer"


def test_code_score_round_trip_and_isolation_info():
    s = CodeScore("a", 0.5, [True, False], "wrong_answer", ["passed", "wrong_answer"])
    assert CodeScore.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert isolation_info()["isolation"] == "bubblewrap"


def test_group_budget_counts_every_test_at_its_own_limit():
    from mimo.verifiers.code import SANDBOX_START_S, group_budget_s

    payload = {"tests": STDIO[:3], "time_limit_s": 2.0}
    assert group_budget_s(payload, 8, threads=2) == pytest.approx(4 * 3 * (2.0 + SANDBOX_START_S))
    assert group_budget_s(payload, 1) == pytest.approx(3 * (2.0 + SANDBOX_START_S))
    assert group_budget_s({"tests": STDIO[:1]}, 1) > 0  # the default limit when none is given
    for bad in ({"tests": "nope"}, {"tests": STDIO[:1], "time_limit_s": -1}, {}):
        assert group_budget_s(bad, 8) == 0.0  # scored "invalid" at once: no budget
