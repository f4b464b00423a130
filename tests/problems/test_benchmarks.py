"""Tests for mimo.problems.benchmarks (local copies only; no network)."""

import gzip
import json
import subprocess
import sys

import pytest

from mimo.problems import benchmarks as B


@pytest.fixture(scope="module")
def bench_dir(shared_dir):
    return shared_dir / "benchmarks"


def test_math500(bench_dir):
    ps = B.load_math500(bench_dir)
    assert len(ps) == 500 and len({p.id for p in ps}) == 500
    p = ps[0]
    assert p.domain == "math" and p.source == "math500" and p.answer and p.solution
    assert p.metadata["subject"] and 1 <= p.metadata["level"] <= 5


@pytest.mark.parametrize("name", ["aime24", "aime25"])
def test_aime(bench_dir, name):
    ps = B.load_benchmark(name, path=bench_dir)
    assert len(ps) == 30
    assert all(isinstance(p.answer, str) and p.answer.isdigit() for p in ps)
    assert all(p.source == name and p.domain == "math" for p in ps)


def test_default_path_and_file_path(bench_dir):
    assert len(B.load_aime25()) == 30  # default: mimo.paths.shared_dir()/benchmarks
    assert len(B.load_aime24(bench_dir / "aime24.jsonl")) == 30


def test_unknown_name_or_source(bench_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown benchmark"):
        B.load_benchmark("gsm8k")
    with pytest.raises(ValueError, match="unknown source"):
        B.load_benchmark("aime24", source="ftp")
    with pytest.raises(FileNotFoundError):
        B.load_math500(tmp_path)


def test_humaneval_records(bench_dir):
    ps = B.load_humaneval(bench_dir)
    assert len(ps) == 164
    p = ps[0]
    assert p.domain == "code" and len(p.tests) == 1
    assert p.tests[0].assert_.rstrip().endswith(f"check({p.metadata['entry_point']})")
    assert p.solution.startswith(p.prompt) and "def " in p.prompt


def _run(program: str, test: str) -> int:
    return subprocess.run([sys.executable, "-c", program + "\n" + test], capture_output=True,
                          timeout=20).returncode


def test_humaneval_canonical_passes_broken_fails(bench_dir):
    ps = B.load_humaneval(bench_dir)
    for p in (ps[0], ps[2], ps[53]):
        assert _run(p.solution, p.tests[0].assert_) == 0, p.id
        broken = p.prompt + "    return None\n"
        assert _run(broken, p.tests[0].assert_) != 0, p.id


def test_hub_layout_rows_use_same_converters(bench_dir):
    # rows in the hub's field layouts go through the same converter as the local loader
    with gzip.open(bench_dir / "humaneval.jsonl.gz", "rt") as f:
        row = json.loads(f.readline())
    assert B.rows_to_problems("humaneval", [row]) == B.load_humaneval(bench_dir)[:1]
    hub_aime25 = {"id": 0, "problem": "Find x.", "solution": "", "answer": 70, "url": "u", "year": 2025}
    p = B.rows_to_problems("aime25", [hub_aime25])[0]
    assert p.answer == "70" and p.metadata["year"] == 2025 and p.solution is None
    hub_math = {"problem": "1+1", "solution": "\\boxed{2}", "answer": "2", "subject": "Algebra",
                "level": 1, "unique_id": "test/algebra/1.json"}
    assert B.rows_to_problems("math500", [hub_math])[0].metadata["unique_id"] == "test/algebra/1.json"


def test_hub_source_calls_datasets_with_known_name(monkeypatch, bench_dir):
    import datasets

    calls = []
    rows = [json.loads(line) for line in open(bench_dir / "aime24.jsonl")]

    def fake_load(name, split):
        calls.append((name, split))
        return rows

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ps = B.load_benchmark("aime24", source="hub")
    assert calls == [("HuggingFaceH4/aime_2024", "train")]
    assert ps == B.load_aime24(bench_dir)
