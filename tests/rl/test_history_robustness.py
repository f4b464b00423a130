"""Steps whose GRPO update was skipped (no informative group, masked samples): the history rows the
loop writes, the shared readers (``mimo.rl.history``), and every consumer on real runs: the RL
entry point, the ``rl_model`` asset's metadata, the loss/RL curves and the evaluation report."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import dagster as dg
import pytest
import yaml

from mimo.eval.report import render_report, rl_rows
from mimo.eval.report_data import ReportData, collect_report_data
from mimo.lake.catalog import ArtifactRecord
from mimo.rl.history import (
    NO_INFORMATIVE_GROUP,
    NO_TRAINABLE_SAMPLE,
    UPDATE_METRICS,
    applied_update,
    history_metadata,
    last_value,
    per_step,
    series,
    skip_reasons,
    skipped_steps,
    skipped_update,
)
from resources.lake import LakeResource

REPO = Path(__file__).resolve().parents[2]
SMALL = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 1, "head_dim": 16}
NAIVE = {"continuous": False, "async_reward": False, "early_termination": False}


def _trained(step: int, reward: float) -> dict:
    return {"step": step, **applied_update({"groups": 2, "samples": 8, "masked_samples": 0, "reward_mean": reward,
                                            "pass_rate": reward, "loss": 0.1, "entropy": 1.5, "updates": 2}),
            "idle_fraction": 0.1, "waste_fraction": 0.5, "rollout_pass_rate": reward}


def _skipped(step: int, reason: str = NO_INFORMATIVE_GROUP) -> dict:
    return {"step": step, **skipped_update(reason), "idle_fraction": 0.2, "waste_fraction": 1.0,
            "rollout_pass_rate": 0.0}


#: the row of a skipped step as the loop wrote it before rows had one shape (the failing tiny run)
LEGACY_SKIPPED = {"step": 3, "groups": 0, "samples": 0, "update_skipped": True, "batch_complete": False,
                  "idle_fraction": 0.0, "waste_fraction": 1.0, "rollout_pass_rate": 0.0}


# (a) the readers

def test_readers_skip_missing_values_and_count_skipped_steps():
    history = [_trained(1, 0.25), _skipped(2), LEGACY_SKIPPED, _trained(4, 0.5),
               _skipped(5, NO_TRAINABLE_SAMPLE), {"step": 6, "reward_mean": float("nan"), "update_skipped": False}]
    assert series(history, "reward_mean") == [(1, 0.25), (4, 0.5)]
    assert series(history, "idle_fraction") == [(1, 0.1), (2, 0.2), (3, 0.0), (4, 0.1), (5, 0.2)]
    assert series([{"tokens": 10, "loss_main": 2.0}, {"loss_main": 1.0}], "loss_main", x="tokens") == [(10, 2.0)]
    assert per_step(history, "reward_mean") == [0.25, None, None, 0.5, None, None]
    assert last_value(history, "reward_mean") == 0.5 and last_value(history, "waste_fraction") == 1.0
    assert last_value(history, "grad_norm") is None and last_value([], "reward_mean") is None
    assert skipped_steps(history) == [2, 3, 5]
    assert skip_reasons(history) == {NO_INFORMATIVE_GROUP: 1, "unknown": 1, NO_TRAINABLE_SAMPLE: 1}
    meta = history_metadata(history)
    assert meta["final_reward_mean"] == 0.5 and meta["final_entropy"] == 1.5 and meta["final_idle_fraction"] == 0.2
    assert meta["reward_curve"] == [0.25, None, None, 0.5, None, None]
    assert meta["skipped_update_steps"] == [2, 3, 5]
    assert history_metadata([])["skipped_update_steps"] == [] and history_metadata([])["reward_curve"] == []


def test_skipped_and_trained_rows_have_the_same_keys():
    assert set(_trained(1, 0.5)) == set(_skipped(2))
    row = skipped_update(NO_TRAINABLE_SAMPLE, groups=2, masked_samples=8)
    assert all(row[k] is None for k in UPDATE_METRICS) and row["updates"] == 0 and row["masked_samples"] == 8
    assert applied_update({"loss": 0.1})["update_skipped"] is False and applied_update({})["skip_reason"] is None


# (b) the report

def _report_data(histories: dict[str, list[dict]], loss_rows: list[dict] | None = None) -> ReportData:
    return ReportData(cells=[], loss_curves={"sft_model": loss_rows} if loss_rows else {}, rl_histories=histories,
                      mtp=None, funnel=[], checkpoints={}, artifacts_used=[])


def test_report_renders_rl_histories_with_skipped_steps(tmp_path):
    loss_rows = [{"step": 1, "tokens": 64, "loss_main": 5.0, "loss_mtp_1": 5.5}, {"step": 2, "tokens": 128},
                 {"step": 3, "tokens": 192, "loss_main": 4.0, "loss_mtp_1": None}]
    data = _report_data({"rl_zero_model": [_skipped(1), _trained(2, 0.25), LEGACY_SKIPPED],
                         "rl_model": [_skipped(1), _skipped(2)]}, loss_rows)
    out = render_report(data, tmp_path / "report")
    assert set(out.plots) == {"loss_curves", "rl_curves"} and all(p.stat().st_size > 0 for p in out.plots.values())
    md = out.markdown.read_text()
    assert "| rl_zero_model | 3 | 2 (steps 1, 3) | 0.250 | 0.250 |" in md
    assert "| rl_model | 2 | 2 (steps 1, 2) | – | – |" in md
    assert "rl_curves.png" in md and "data:image/png;base64" in out.html.read_text()
    assert rl_rows(_report_data({})) == []
    empty = render_report(_report_data({}), tmp_path / "empty")
    assert "rl_curves" not in empty.plots and "(not materialized yet)" in empty.markdown.read_text()


# (c) real runs: a step with no informative group

@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    """A saved 2-layer MiMo model answering "Say the digit d." prompts with a random \\boxed{1..3},
    and two problem files with the same ids: answer 1 (about a third of the rollouts pass: groups
    differ) and answer 7 (never said: every group all-fail, so no informative group)."""
    import pyarrow.parquet as pq
    import torch

    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.records import problems_to_table
    from mimo.rl.grpo.toy_policy import PHRASINGS, digit_problems, teach_random_digits

    root = tmp_path_factory.mktemp("history")
    taught = digit_problems(PHRASINGS[:2])
    tok = train_tokenizer([p.prompt for p in digit_problems()] * 5 + ["\\boxed{1} \\boxed{2} \\boxed{3}"] * 20,
                          vocab_size=300)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0, **SMALL)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model: more threads only contend (10x slower on a busy 2-core box)
    try:
        teach_random_digits(model, tok, taught)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(root / "init")
    tok.save_pretrained(root / "init")
    solvable = digit_problems(PHRASINGS[:2], digits="1")
    pq.write_table(problems_to_table(solvable), root / "solvable.parquet")
    never = [replace(p, answer="7") for p in solvable]
    pq.write_table(problems_to_table(never), root / "never.parquet")
    return root


def _rl_config(root: Path, out: Path, problems: str, steps: int) -> Path:
    cfg = {"stage": "rl", "init_from": str(root / "init"), "problem_files": [str(root / problems)],
           "out_dir": str(out), "threads": 1, "checkpoint_every_steps": 1, "reward_workers": 1, **NAIVE,
           "grpo": {"num_generations": 4, "batch_prompts": 2, "mini_batch_prompts": 1, "micro_batch_samples": 8,
                    "learning_rate": 1e-4, "max_completion_length": 16, "steps": steps, "max_sampling_rounds": 4,
                    "seed": 0}}
    path = out.parent / f"{out.name}-{steps}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(cfg: Path) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "mimo.rl.train", "--config", str(cfg)], cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def _catalog_rl_model(lake: LakeResource, final: Path) -> str:
    """Catalog ``final`` as an ``rl_model`` artifact (``<artifact>/model`` = the run's final dir)."""
    art = Path(lake.root) / "rl_model" / "_all" / "run"
    shutil.copytree(final, art / "model")
    return lake.catalog().record(ArtifactRecord(asset_key="rl_model", path=str(art), content_hash="h-rl"))


def test_rl_run_with_a_skipped_step_feeds_metadata_curves_and_report(policy, tmp_path):
    """Step 1 trains (answer 1); the run resumed on the same ids with answer 7 has no informative
    group at step 2: the update is skipped, the run ends normally, and every consumer copes."""
    out = tmp_path / "run"
    _train(_rl_config(policy, out, "solvable.parquet", steps=1))
    run = _train(_rl_config(policy, out, "never.parquet", steps=2))
    assert "step 2: no informative group in 8 prompts; update skipped" in run.stdout
    final = out / "final"
    history = json.loads((final / "rl_history.json").read_text())
    trained, skipped = history
    assert (trained["step"], trained["update_skipped"], trained["skip_reason"]) == (1, False, None)
    assert math.isfinite(trained["reward_mean"]) and trained["updates"] >= 1
    assert skipped["step"] == 2 and skipped["update_skipped"] and skipped["skip_reason"] == NO_INFORMATIVE_GROUP
    assert all(skipped[k] is None for k in UPDATE_METRICS) and skipped["groups"] == skipped["updates"] == 0
    assert skipped["valid_groups"] == 0 and skipped["rollout_pass_rate"] == 0.0  # scored, all failed
    assert set(trained) == set(skipped)  # one row shape
    assert (final / "rl_curves.png").stat().st_size > 0
    # the rl assets' metadata (assets/rl.py write())
    meta = history_metadata(history)
    assert meta["final_reward_mean"] == trained["reward_mean"] and meta["final_pass_rate"] == trained["pass_rate"]
    assert meta["final_idle_fraction"] == skipped["idle_fraction"]
    assert meta["reward_curve"] == [round(trained["reward_mean"], 4), None]
    assert meta["skipped_update_steps"] == [2] and meta["skip_reasons"] == {NO_INFORMATIVE_GROUP: 1}
    # the evaluation report, from the catalog
    lake = LakeResource(root=str(tmp_path / "lake"))
    artifact = _catalog_rl_model(lake, final)
    data = collect_report_data(lake.catalog())
    assert data.rl_histories["rl_model"] == history and artifact in data.artifacts_used
    report = render_report(data, tmp_path / "report")
    assert "rl_curves" in report.plots and "| rl_model | 2 | 1 (steps 2) |" in report.markdown.read_text()


def _register_upstream(instance: dg.DagsterInstance, lake: LakeResource, asset: str, path: Path,
                       metadata: dict | None = None) -> str:
    """An upstream artifact as the pipeline leaves it: the catalog row and the asset's
    materialization (with its ``artifact_id``) in the Dagster instance."""
    artifact_id = lake.catalog().record(ArtifactRecord(asset_key=asset, path=str(path), content_hash=f"h-{asset}",
                                                       metadata=metadata or {}))
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, metadata={"artifact_id": artifact_id}))
    return artifact_id


def test_rl_model_asset_when_no_step_has_an_informative_group(policy, tmp_path):
    """``rl_model`` materialized for real (local cluster job): every group is all-fail, so both
    steps skip their update; the asset still succeeds, says which steps were skipped, and the
    report renders its history."""
    from assets.rl import rl_model
    from resources.cluster import ClusterResource

    lake = LakeResource(root=str(tmp_path / "lake"))
    sets = {a: tmp_path / "up" / a for a in ("sft_model", "rl_math_problems", "rl_code_problems")}
    shutil.copytree(policy / "init", sets["sft_model"] / "model")
    for a in ("rl_math_problems", "rl_code_problems"):
        sets[a].mkdir(parents=True)
        shutil.copy(policy / "never.parquet", sets[a] / "problems.parquet")  # same ids: the duplicates are dropped
    config = {"steps": 2, "num_generations": 4, "batch_prompts": 2, "mini_batch_prompts": 1,
              "micro_batch_samples": 8, "learning_rate": 1e-4, "max_completion_length": 16, "reward_workers": 1,
              "threads": 1, "checkpoint_every_steps": 2, "work_root": str(tmp_path / "train"), **NAIVE}
    with dg.instance_for_test() as instance:
        ids = {a: _register_upstream(instance, lake, a, p, {"summary": {"tokens_by_stage": {"sft": 1}}})
               for a, p in sets.items()}
        result = dg.materialize([rl_model], instance=instance, run_config={"ops": {"rl_model": {"config": config}}},
                                resources={"lake": lake, "cluster": ClusterResource(
                                    backend="local", job_root=str(tmp_path / "jobs"), poll_interval_s=0.2,
                                    message_grace_s=5.0)})
    assert result.success
    (mat,) = result.asset_materializations_for_node("rl_model")
    md = {k: v.value for k, v in mat.metadata.items()}
    assert md["steps"] == 2 and md["skipped_update_steps"] == [1, 2]
    assert md["skip_reasons"] == {NO_INFORMATIVE_GROUP: 2}
    (row,) = lake.catalog().latest("rl_model")
    meta = json.loads(row["metadata"])
    assert meta["final_reward_mean"] is None and meta["reward_curve"] == [None, None]
    assert meta["final_idle_fraction"] is not None and meta["summary"]["tokens_by_stage"] == {"sft": 1}
    assert set(ids.values()) <= {r["artifact_id"] for r in lake.catalog().lineage(row["artifact_id"])}
    data = collect_report_data(lake.catalog())
    assert [h["update_skipped"] for h in data.rl_histories["rl_model"]] == [True, True]
    report = render_report(data, tmp_path / "report")
    assert "| rl_model | 2 | 2 (steps 1, 2) | – | – |" in report.markdown.read_text()
