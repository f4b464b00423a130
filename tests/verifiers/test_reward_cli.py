"""``mimo reward math|code|info``: JSON lines in, one JSON line out per input line, in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mimo.cli import main

REPO = Path(__file__).resolve().parents[2]


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_reward_math(tmp_path, capsys):
    inp = write_lines(tmp_path / "in.jsonl", [
        {"id": "a", "response": "thus \\boxed{12}", "answer": "12"},
        "{not json",
        "",
        {"id": "b", "response": "thus \\boxed{13}", "answer": "12"},
    ])
    out = tmp_path / "sub" / "out.jsonl"
    assert main(["reward", "math", "--input", str(inp), "--output", str(out)]) == 0
    rows = read_lines(out)
    assert [(r["id"], r["reward"], r["status"]) for r in rows] == [
        ("a", 1.0, "correct"), (None, 0.0, "error"), ("b", 0.0, "wrong")]
    summary = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert summary["items"] == 3 and summary["status"] == {"correct": 1, "error": 1, "wrong": 1}


def test_reward_code_schemes(tmp_path):
    tests = [{"input": "2", "output": "4", "level": 1}, {"input": "3", "output": "9", "level": 2},
             {"input": "-1", "output": "1", "level": 3}]
    inp = write_lines(tmp_path / "in.jsonl", [
        {"id": 1, "response": "```python\nn = int(input())\nprint(n * n)\n```", "tests": tests},
        {"id": 2, "response": "n = int(input())\nprint(n + n if n > 0 else 0)", "tests": tests},
        [1, 2],
    ])
    got = {}
    for scheme in ("vanilla", "strict", "soft"):
        out = tmp_path / f"{scheme}.jsonl"
        assert main(["reward", "code", "--input", str(inp), "--output", str(out), "--scheme", scheme,
                     "--level-scores", "1,1,2"]) == 0
        got[scheme] = read_lines(out)
    assert [r["reward"] for r in got["vanilla"]] == [1.0, 0.0, 0.0]
    assert got["strict"][1]["passed"] == [True, False, False] and got["strict"][1]["reward"] == 0.25
    assert got["soft"][1]["reward"] == 0.25
    assert got["soft"][2]["status"] == "invalid" and got["soft"][2]["id"] is None
    assert set(got["soft"][0]) >= {"id", "reward", "passed", "status"}


def test_reward_code_rejects_bad_level_scores(tmp_path):
    inp = write_lines(tmp_path / "in.jsonl", [{"id": 1, "response": "print(1)", "tests": [{"output": "1"}]}])
    assert main(["reward", "code", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
                 "--level-scores=-1,2"]) == 2
    assert not (tmp_path / "o.jsonl").exists()


def test_reward_info_and_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mimo.cli", "reward", "info"], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["isolation"] == "bubblewrap"
