"""``mimo eval`` on the default run's SFT checkpoint and problem files (JSONL and parquet)."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mimo.eval.cli import pass_ks, select_problems
from mimo.problems.records import table_to_problems, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def _mimo(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mimo.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def _latest_path(state: Path, asset: str) -> Path:
    import duckdb

    con = duckdb.connect(str(state / "lake" / "_catalog" / "catalog.duckdb"), read_only=True)
    try:
        (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = ? ORDER BY created_at DESC "
                              "LIMIT 1", [asset]).fetchone()
    finally:
        con.close()
    return Path(path)


@pytest.fixture(scope="module")
def finished(tiny_run):
    state, env, _ = tiny_run
    model = _latest_path(state, "sft_model") / "model"
    problems = _latest_path(state, "evaluation_sets") / "problems.parquet"
    return model, problems, env


def test_pass_ks_and_selection():
    assert pass_ks(4) == (1, 2, 4) and pass_ks(6) == (1, 2, 4, 6) and pass_ks(1) == (1,)


def test_eval_on_parquet_prints_pass_at_1_with_interval_and_levels(finished, tmp_path):
    model, problems, env = finished
    out = tmp_path / "ev"
    args = ["eval", "--model", str(model), "--problems", str(problems), "--split", "heldout", "--samples", "2",
            "--max-tokens", "48", "--max-problems", "12", "--out", str(out)]
    proc = _mimo(*args, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "pass@1" in proc.stdout and "95 % interval" in proc.stdout and "pass@2" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 12 and summary["samples_per_problem"] == 2
    m = summary["metrics"]
    assert m["samples"] == 24 and len(m["pass@1_ci95"]) == 2 and m["pass@1_ci95"][0] <= m["pass@1"] <= m["pass@1_ci95"][1]
    chosen = select_problems(table_to_problems(pq.read_table(problems)), "heldout", 12, 0)
    if any(p.metadata.get("level") is not None for p in chosen):
        assert summary["per_level"] and sum(v["n"] for v in summary["per_level"].values()) <= 12
    assert pq.read_table(out / "samples.parquet").num_rows == 24
    again = _mimo(*args, "--json", env=env)  # resumes: same numbers, nothing regenerated
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["metrics"] == m


def test_eval_on_jsonl_counts_malformed_lines(finished, tmp_path):
    model, problems, env = finished
    some = [p for p in table_to_problems(pq.read_table(problems)) if p.domain == "math"][:3]
    path = tmp_path / "p.jsonl"
    write_jsonl(some, path)
    with path.open("a") as f:
        f.write("{not json\n")
        f.write(json.dumps({"id": "x", "source": "mine", "domain": "math", "prompt": "no answer"}) + "\n")
    proc = _mimo("eval", "--model", str(model), "--problems", str(path), "--samples", "1", "--max-tokens", "16",
                 "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["problems"] == 3 and summary["malformed_records"] == 2


def test_eval_bad_input_is_one_clear_line(finished, tmp_path):
    model, problems, env = finished
    proc = _mimo("eval", "--model", str(model), "--problems", str(tmp_path / "missing.jsonl"), env=env)
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = _mimo("eval", "--model", str(model), "--problems", str(problems), "--split", "nosuchsplit", env=env)
    assert proc.returncode == 2 and "no problems to evaluate" in proc.stderr
    proc = _mimo("eval", "--model", str(tmp_path), "--problems", str(problems), env=env)
    assert proc.returncode == 2 and "not a saved model" in proc.stderr
