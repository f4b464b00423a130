"""Tests for mimo.problems.records."""

import json

import pyarrow as pa
import pytest

from mimo.problems.records import (
    Problem,
    TestCase,
    problems_to_table,
    read_jsonl,
    table_to_problems,
    write_jsonl,
)


def _math() -> Problem:
    return Problem(id="m1", source="t", domain="math", prompt="1+1?", answer="2", solution="\\boxed{2}",
                   split="train", metadata={"level": 1})


def _code() -> Problem:
    return Problem(id="c1", source="t", domain="code", prompt="echo", solution="print(input())",
                   tests=(TestCase(input="a\n", output="a\n", level=2), TestCase(assert_="assert f(1) == 1")),
                   metadata={"entry_point": "f"})


def test_testcase_serializes_assert_key():
    d = TestCase(assert_="assert True", level=3).to_dict()
    assert d["assert"] == "assert True" and "assert_" not in d
    assert TestCase.from_dict(d) == TestCase(assert_="assert True", level=3)


@pytest.mark.parametrize("p", [_math(), _code()])
def test_dict_roundtrip_is_json_safe(p):
    d = json.loads(json.dumps(p.to_dict()))
    q = Problem.from_dict(d)
    assert q == p
    q.validate()


@pytest.mark.parametrize("change, message", [
    ({"prompt": "  "}, "empty prompt"),
    ({"domain": "poetry"}, "unknown domain"),
    ({"answer": None}, "without answer"),
    ({"split": "dev"}, "unknown split"),
])
def test_validate_math_errors(change, message):
    bad = Problem(**{**_math().__dict__, **change})
    with pytest.raises(ValueError, match=message):
        bad.validate()


def test_validate_code_errors():
    with pytest.raises(ValueError, match="without tests"):
        Problem(id="c", source="t", domain="code", prompt="p").validate()
    with pytest.raises(ValueError, match="neither"):
        Problem(id="c", source="t", domain="code", prompt="p", tests=(TestCase(input="1"),)).validate()


def test_jsonl_roundtrip_and_bad_lines(tmp_path):
    path = tmp_path / "sub" / "p.jsonl"
    write_jsonl([_math(), _code()], path)
    assert not [f for f in path.parent.iterdir() if f.name != "p.jsonl"]  # no temp files left
    lines = path.read_text().splitlines()
    lines.insert(1, "{not json")
    lines.append(json.dumps({**_math().to_dict(), "answer": None}))
    lines.append(json.dumps({"id": "x"}))
    lines.append("")
    path.write_text("\n".join(lines) + "\n")
    good, bad = read_jsonl(path)
    assert good == [_math(), _code()]
    assert [n for n, _ in bad] == [2, 4, 5]
    assert "JSON" in bad[0][1] and "answer" in bad[1][1] and "missing" in bad[2][1]


def test_write_jsonl_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "p.jsonl"
    write_jsonl([_math()], path)

    def boom():
        yield _code()
        raise RuntimeError("fail")

    with pytest.raises(RuntimeError):
        write_jsonl(boom(), path)
    assert read_jsonl(path)[0] == [_math()]
    assert [f.name for f in tmp_path.iterdir()] == ["p.jsonl"]


def test_arrow_roundtrip():
    table = problems_to_table([_math(), _code()])
    assert isinstance(table, pa.Table) and table.num_rows == 2
    assert table.schema.field("tests").type == pa.string()
    assert table_to_problems(table) == [_math(), _code()]
    assert table_to_problems(problems_to_table([])) == []


def test_problem_is_hashable():
    assert len({_math(), _math()}) == 1
