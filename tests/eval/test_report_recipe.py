"""The report's recipe section: per-model intervals and levels, paired differences, and notes."""

import random

from mimo.eval.report_data import EvalCell
from mimo.eval.report_recipe import difference_rows, model_rows, signal_notes


def _cell(name: str, p1: float, levels: dict, problems: int = 256) -> EvalCell:
    metrics = {"problems": problems, "avg@4": p1, "pass@1": p1, "pass@4": min(1.0, 2 * p1),
               "pass@1_ci95": [p1 - 0.03, p1 + 0.03], "per_level": levels}
    return EvalCell(name, "toy_heldout", 4, p1, metrics, f"art-{name}", None, False)


def _scores(rate: float, n: int = 256, seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    return {f"p{i}": sum(rng.random() < rate for _ in range(4)) / 4 for i in range(n)}


def test_model_rows_show_interval_pass_at_k_and_levels():
    cells = {"base": _cell("base", 0.05, {"1": {"mean": 0.1, "n": 100}, "code": {"mean": 0.0, "n": 6}}),
             "sft": _cell("sft", 0.3, {"1": {"mean": 0.5, "n": 100}, "code": {"mean": 0.0, "n": 6}})}
    header, rows = model_rows(cells)
    assert header == ["Model", "pass@1 % [95 % interval]", "pass@4 %", "level 1 %", "code %", "problems x samples"]
    assert rows[0][0] == "Base" and rows[1][:2] == ["SFT", "30.0 [27.0, 33.0]"] and rows[1][3] == "50.0"


def test_differences_are_paired_and_judged_against_the_target():
    base, sft = _scores(0.05), _scores(0.05)
    sft = {p: min(1.0, s + 0.25) for p, s in base.items()}  # a consistent 25-point gain
    rows = {r[0]: r for r in difference_rows({"base": base, "sft": sft, "rl": dict(sft), "rl_zero": base})}
    assert rows["SFT − Base"][4] == "met" and rows["SFT − Base"][1].startswith("+2")
    assert rows["RL − SFT"][4] == "not significant"
    assert rows["RL-Zero − Base"][4] == "not significant"
    small = {p: min(1.0, s + 0.04) for p, s in base.items()}
    assert {r[0]: r for r in difference_rows({"base": base, "sft": small})}["SFT − Base"][4] in (
        "above zero, below the target", "not significant")
    assert difference_rows({})[0][4] == "not evaluated yet"


def test_notes_flag_levels_without_signal_and_small_sets():
    cells = {"sft": _cell("sft", 0.3, {"1": {"mean": 1.0, "n": 50}, "4": {"mean": 0.0, "n": 20}}, problems=16)}
    notes = " ".join(signal_notes(cells, {"sft": {"a": 1.0}}))
    assert "level 1: SFT pass rate 100 %" in notes and "level 4: SFT pass rate 0 %" in notes
    assert "fewer than 200" in notes
    assert "no toy held-out evaluation" in " ".join(signal_notes({}, {}))


def test_report_uses_the_newest_evaluation_of_each_checkpoint(tmp_path):
    """Two evaluations of one (checkpoint, benchmark) in different config slots: the newest counts."""
    from datetime import datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mimo.eval.evaluate import SAMPLE_SCHEMA
    from mimo.eval.report_data import collect_report_data
    from mimo.lake.catalog import ArtifactRecord, Catalog

    catalog = Catalog(str(tmp_path / "catalog.duckdb"))
    t0 = datetime(2026, 1, 1)
    for i, (slot, reward) in enumerate((("old", 0.0), ("new", 1.0))):
        path = tmp_path / "eval_sft" / "toy_heldout" / slot / f"c{i}"
        path.mkdir(parents=True)
        rows = [{"benchmark": "toy_heldout", "problem_id": f"p{j}", "domain": "math", "sample_index": 0,
                 "response": "", "answer": None, "reward": reward, "status": "correct", "finish_reason": "stop",
                 "prompt_tokens": 1, "completion_tokens": 1, "error": None} for j in range(3)]
        pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA), path / "samples.parquet")
        catalog.record(ArtifactRecord(
            asset_key="eval_sft", path=str(path), content_hash=f"{i:064d}", partition="toy_heldout",
            created_at=t0 + timedelta(minutes=i),
            metadata={"checkpoint": "sft", "benchmark": "toy_heldout", "n": 1,
                      "metrics": {"avg@1": reward, "problems": 3}}))
    data = collect_report_data(catalog)
    cells = [c for c in data.cells if c.checkpoint == "sft"]
    assert len(cells) == 1 and cells[0].pass_at_1 == 1.0
    assert data.toy_scores["sft"] == {"p0": 1.0, "p1": 1.0, "p2": 1.0}


def test_mtp_rows_judge_acceptance_and_speed_against_their_targets():
    from mimo.eval.report import _mtp_rows
    from mimo.eval.report_data import ReportData

    def rows(mtp):
        data = ReportData([], {}, {}, mtp, [], {}, [])
        return {r[0].split(" (")[0].split(", batch")[0]: r for r in _mtp_rows(data)}

    got = rows({"acceptance_per_layer": {"1": 0.886, "2": 0.5}, "tokens_per_step_k1": 1.9,
                "greedy_identical": True, "timing": {"speedup": 1.13, "best_num_speculative": 1}})
    assert got["MTP layer 1 acceptance"][1:] == ["88.6%", "≥ 70%: met"]
    assert got["MTP layer 2 acceptance"][2] == ""
    assert got["speculative decoding speed vs plain"][2] == "≥ 1.2x: not met"
    low = rows({"acceptance_per_layer": {"1": 0.6}, "timing": {"speedup": 1.25, "best_num_speculative": 2}})
    assert low["MTP layer 1 acceptance"][2] == "≥ 70%: not met"
    assert low["speculative decoding speed vs plain"][2] == "≥ 1.2x: met"
    assert rows(None) == {}
