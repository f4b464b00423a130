"""LiveCodeBench rows (published format) become code problems whose tests run in the real sandbox:
stdin tests and LeetCode-style functional tests; v5/v6 contest windows; compressed private tests
decode without unpickling any object; malformed rows name their line."""

import base64
import json
import pickle
import zlib

import pytest

from mimo.problems.benchmarks import load_benchmark
from mimo.problems.livecodebench import decode_test_cases, load_livecodebench, read_rows
from mimo.verifiers.code import score_code

SOLUTIONS = {
    "lcbs001": "n=int(input()); a=list(map(int,input().split())); print((n-1)*sum(a))",
    "lcbs002": "s=input().strip(); best=cur=1\nfor i in range(1,len(s)):\n    cur=cur+1 if s[i]==s[i-1] else 1\n"
               "    best=max(best,cur)\nprint(best)",
    "lcbs003": "from typing import List\nclass Solution:\n    def countEvenDigits(self, nums: List[int]) -> int:\n"
               "        return sum(len(str(abs(x))) % 2 == 0 for x in nums)",
    "lcbs004": "h,w=map(int,input().split())\nfor _ in range(h):\n    r=input().strip(); print(r[-1]+r[:-1])",
    "lcbs005": "class Solution:\n    def minMoves(self, nums, target):\n        return abs(sum(nums)-target)",
    "lcbs006": "input(); v=sorted(set(map(int,input().split())), reverse=True); print(v[1] if len(v)>1 else -1)",
    "lcbs007": "n=int(input()); print(n*n)",
}


def test_windows_pick_the_contest_dates():
    assert [p.metadata["question_id"] for p in load_livecodebench("livecodebench_v5")] == ["lcbs001", "lcbs002", "lcbs003"]
    assert [p.metadata["question_id"] for p in load_benchmark("livecodebench_v6")] == ["lcbs004", "lcbs005", "lcbs006"]
    assert len(load_livecodebench("livecodebench")) == 7


def test_reference_solutions_pass_and_swapped_ones_fail_in_the_sandbox():
    problems = load_livecodebench("livecodebench")
    items = [{"id": p.id, "response": f"```python\n{SOLUTIONS[p.metadata['question_id']]}\n```",
              "tests": [t.to_dict() for t in p.tests]} for p in problems]
    assert [s.reward for s in score_code(items, scheme="vanilla", workers=2)] == [1.0] * 7
    swapped = [{**it, "response": items[(i + 1) % 7]["response"]} for i, it in enumerate(items)]
    assert all(s.reward == 0.0 for s in score_code(swapped, scheme="vanilla", workers=2))
    functional = next(p for p in problems if p.metadata["func_name"] == "countEvenDigits")
    assert "from typing import *" in functional.prompt and len(functional.tests) == 3


def test_compressed_tests_decode_but_objects_are_refused():
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    packed = base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()
    assert decode_test_cases(packed) == tests and decode_test_cases(json.dumps(tests)) == tests
    evil = base64.b64encode(zlib.compress(pickle.dumps(ValueError("x")))).decode()
    with pytest.raises(ValueError, match="undecodable test cases.*refusing to load"):
        decode_test_cases(evil)


def test_malformed_rows_name_their_line(tmp_path):
    f = tmp_path / "lcb.jsonl"
    f.write_text('{"question_id": "a", "question_content": "x", "contest_date": "2024-09-01"}\n{not json\n')
    with pytest.raises(ValueError, match=r"lcb.jsonl:2: not JSON"):
        read_rows(f)
    f.write_text('{"question_id": "a", "contest_date": "2024-09-01"}\n')
    with pytest.raises(ValueError, match=r"lcb.jsonl:1: missing question_content"):
        read_rows(f)
    with pytest.raises(FileNotFoundError, match="benchmark file not found"):
        load_livecodebench("livecodebench_v5", path=tmp_path / "nope.jsonl")
