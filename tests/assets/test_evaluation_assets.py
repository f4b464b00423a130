"""Evaluation assets on a real (tiny, random) checkpoint in a real lake + DuckDB catalog: one
checkpoint's evaluation on one benchmark partition gives the per-sample parquet, metrics and the
regression check; a checkpoint that cannot load fails clearly; the report renders HTML and
Markdown with lineage; automation asks for the evaluations of a new checkpoint, and only those."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from assets.evaluation import build_eval_assets
from assets.inputs import register_artifact
from assets.report import eval_report
from mimo.lake.catalog import ArtifactRecord
from mimo.problems.benchmarks import load_benchmark
from mimo.problems.records import problems_to_table
from resources.lake import LakeResource

CONFIG = {"repeats": {"livecodebench_v5": 2, "math500": 1}, "max_problems": {"math500": 3}, "max_tokens": 12,
          "batch_size": 8, "device": "cpu", "work_root": "WORK"}


EVALS = {a.key.to_user_string(): a for a in build_eval_assets(["math500", "livecodebench_v5", "aime24"])}


@pytest.fixture(scope="module")
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="module")
def lake(tmp_path_factory, instance):
    from mimo.generate.tiny_model import build_tiny_chat_model, default_tokenizer_texts

    root = tmp_path_factory.mktemp("evallake")
    res = LakeResource(root=str(root / "lake"))
    base = root / "lake/pretrain_stage3/_all/x"
    build_tiny_chat_model(base / "model", texts=default_tokenizer_texts(200, 50), vocab_size=600, hidden_size=32,
                          num_layers=1, num_heads=2, num_kv_heads=1, seed=0)
    sft = root / "lake/sft_model/_all/y"
    shutil.copytree(base / "model", sft / "model")
    (sft / "model/model.safetensors").write_bytes(b"corrupt")  # a checkpoint that fails to load
    sets = root / "lake/evaluation_sets/_all/z"
    sets.mkdir(parents=True)
    problems = load_benchmark("math500")[:5] + load_benchmark("livecodebench_v5")
    pq.write_table(problems_to_table(problems), sets / "problems.parquet")
    for asset, path in (("pretrain_stage3", base), ("sft_model", sft), ("evaluation_sets", sets)):
        register_artifact(instance, res, ArtifactRecord(asset_key=asset, path=str(path), content_hash=f"hash-{asset}",
                                                        config_hash="c", metadata={}))
    return res, root, instance


def _materialize(lake, checkpoint, benchmark):
    res, root, instance = lake
    cfg = {**CONFIG, "work_root": str(root / "eval-work")}
    return dg.materialize([EVALS[f"eval_{checkpoint}"]], resources={"lake": res}, instance=instance,
                          raise_on_error=False, partition_key=benchmark,
                          run_config={"ops": {f"eval_{checkpoint}": {"config": cfg}}})


def test_one_partition_writes_samples_metrics_and_the_regression_check(lake):
    result = _materialize(lake, "base", "livecodebench_v5")
    assert result.success
    meta = result.asset_materializations_for_node("eval_base")[0].metadata
    assert meta["n"].value == 2 and meta["problems"].value == 3 and meta["benchmark"].value == "livecodebench_v5"
    assert set(meta["metrics"].value) >= {"avg@2", "pass@1", "pass@2", "samples", "masked_generation_errors"}
    assert meta["samples_generated"].value == 6 and meta["samples_per_s"].value > 0
    rows = pq.read_table(f"{meta['path'].value}/samples.parquet").to_pylist()
    assert [(r["problem_id"][-7:], r["sample_index"]) for r in rows] == [
        (q, i) for q in ("lcbs001", "lcbs002", "lcbs003") for i in range(2)]
    assert all(r["status"] and r["completion_tokens"] > 0 for r in rows)  # scored in the sandbox
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [("no_regression_vs_parent", True)]
    # rerun: same checkpoint, config and problems -> the finished samples are resumed, not redone
    again = _materialize(lake, "base", "livecodebench_v5")
    meta2 = again.asset_materializations_for_node("eval_base")[0].metadata
    assert meta2["samples_generated"].value == 0 and meta2["samples_resumed"].value == 6
    assert meta2["content_hash"].value == meta["content_hash"].value


def test_a_checkpoint_that_cannot_load_fails_with_a_clear_error(lake):
    result = _materialize(lake, "sft", "math500")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    text = str(failure.event_specific_data.error)
    assert "checkpoint sft_model" in text and "failed to load" in text


def test_a_missing_checkpoint_or_benchmark_is_named(lake):
    result = _materialize(lake, "rl", "math500")
    assert not result.success and "rl_model has no materialization" in str(
        next(e for e in result.all_events if e.is_step_failure).event_specific_data.error)
    result = _materialize(lake, "base", "aime24")
    assert not result.success and "benchmark 'aime24' is not in evaluation_sets" in str(
        next(e for e in result.all_events if e.is_step_failure).event_specific_data.error)


def test_report_renders_the_series_with_lineage(lake):
    res, _, instance = lake
    assert _materialize(lake, "base", "math500").success
    result = dg.materialize([eval_report], resources={"lake": res}, instance=instance)
    meta = result.asset_materializations_for_node("eval_report")[0].metadata
    html = Path(meta["report_html"].value).read_text()
    md = Path(meta["report_md"].value).read_text()
    assert "| Benchmark | Base | SFT | RL-Zero | RL |" in md and "| math500 |" in md and "| livecodebench_v5 |" in md
    assert "<table>" in html and "Lineage of the checkpoints" in html and "pretrain_stage3" in html
    catalog = res.catalog()
    evals = [r["artifact_id"] for r in catalog.latest("eval_base")]
    assert all(a in md for a in evals)  # every number names its artifact
    lineage = {r["asset_key"] for r in catalog.lineage(str(meta["artifact_id"].value))}
    assert {"eval_base", "pretrain_stage3", "evaluation_sets"} <= lineage
    data = json.loads((Path(meta["path"].value) / "report_data.json").read_text())
    assert data["series"][0] == ["Benchmark", "Base", "SFT", "RL-Zero", "RL"]


def test_a_new_checkpoint_is_evaluated_by_automation_and_the_nightly_schedule():
    """Automation requests every benchmark of a newly materialized checkpoint, only that
    checkpoint's evaluations, and nothing again once handled; the nightly schedule uses the
    profile's settings with the night's seed."""
    from datetime import datetime

    from pipelines.definitions import build_definitions
    from pipelines.profiles import load_profile

    profile = load_profile("tiny")
    defs = build_definitions(profile)
    repo = defs.get_repository_def()
    schedule = defs.get_schedule_def("nightly_eval_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED  # heavy: never runs unasked
    evals = dg.AssetSelection.assets(*(f"eval_{c}" for c in ("base", "sft", "rl_zero", "rl")))
    with dg.instance_for_test() as instance:
        for asset in ("pretrain_stage3", "evaluation_sets"):  # the base model exists and was evaluated
            instance.report_runless_asset_event(dg.AssetMaterialization(asset))
        for b in profile.eval_benchmarks:
            instance.report_runless_asset_event(dg.AssetMaterialization("eval_base", partition=b))
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=evals)
        assert first.total_requested == 0  # work already done is not redone
        instance.report_runless_asset_event(dg.AssetMaterialization("sft_model"))
        second = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=evals,
                                                   cursor=first.cursor)
        requested = set(second.get_requested_partitions(dg.AssetKey("eval_sft")))
        assert requested == set(profile.eval_benchmarks)
        assert second.get_num_requested(dg.AssetKey("eval_base")) == 0  # its checkpoint did not change
        assert second.get_num_requested(dg.AssetKey("eval_rl")) == 0  # rl_model is missing
        for b in profile.eval_benchmarks:
            instance.report_runless_asset_event(dg.AssetMaterialization("eval_sft", partition=b))
        third = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=evals,
                                                  cursor=second.cursor)
        assert third.total_requested == 0  # handled once
        night = dg.build_schedule_context(instance=instance, repository_def=repo,
                                          scheduled_execution_time=datetime(2026, 11, 24, 3))
        requests = schedule.evaluate_tick(night).run_requests
        assert len(requests) == len(profile.eval_benchmarks)
        assert {k.to_user_string() for k in requests[0].asset_selection} == {"eval_base", "eval_sft"}
        assert requests[0].run_config["ops"]["eval_sft"]["config"] == {"seed": 20261124}
