"""Launch paths on a copy of the finished default run: `dagster asset materialize` with no run
config uses the profile's settings; a failed blocking check (planted contamination) stops every
consumer, whether launched by hand or by automation, with a message that says why."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.automation import TRAINING_ASSETS
from pipelines.profiles import load_profile

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(3000)  # `tiny_run` may run the whole default graph
CORPUS_CONSUMERS = ["tokenizer", "synthetic_grounded_analyses", "pretrain_data_stage1", "pretrain_data_stage2",
                    "pretrain_data_stage3"]


def _materialize(env: dict, asset: str, config: dict | None = None) -> subprocess.CompletedProcess:
    """`dagster asset materialize` as a user types it (run config only when given)."""
    cmd = [str(REPO / ".venv/bin/dagster"), "asset", "materialize", "-m", "pipelines.definitions", "--select", asset]
    if config is not None:
        cmd += ["--config-json", json.dumps({"ops": {asset: {"config": config}}})]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)


def _newest(state: Path, asset: str) -> dict:
    con = duckdb.connect(str(state / "lake/_catalog/catalog.duckdb"), read_only=True)
    try:
        cur = con.execute("SELECT * FROM artifacts WHERE asset_key = ? ORDER BY created_at DESC LIMIT 1", [asset])
        names = [d[0] for d in cur.description]
        return dict(zip(names, cur.fetchone()))
    finally:
        con.close()


def test_cli_materialize_without_run_config_uses_the_profile(finished_state_copy):
    state, env = finished_state_copy
    proc = _materialize(env, "sft_model")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    row = _newest(state, "sft_model")
    assert row["path"].startswith(str(state)), "the new checkpoint is not in this state's lake"
    used, wanted = json.loads(row["config"]), load_profile().assets["sft_model"]
    assert {k: used[k] for k in wanted} == wanted  # the tiny profile's settings, not MiMo's batch of 128
    assert used["batch_start"] == 2 and used["epochs"] == 0.4


def _instance(env: dict) -> dg.DagsterInstance:
    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    return dg.DagsterInstance.from_config(str(REPO))


def test_planted_contamination_stops_every_consumer(finished_state_copy):
    from pipelines.definitions import build_definitions

    state, env = finished_state_copy
    defs = build_definitions(load_profile())
    watched = dg.AssetSelection.assets(*CORPUS_CONSUMERS, *TRAINING_ASSETS)
    instance = _instance(env)
    try:
        start = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=watched)
        assert start.total_requested == 0  # everything is done

        # control: a clean corpus refresh passes its checks and automation picks the consumers up
        clean = _materialize(env, "filtered_corpus")
        assert clean.returncode == 0, clean.stderr[-4000:]
        refreshed = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=watched,
                                                      cursor=start.cursor)
        assert refreshed.get_num_requested(dg.AssetKey("tokenizer")) == 1
        settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=watched,
                                                    cursor=refreshed.cursor)
        assert settled.total_requested == 0  # a request is made once

        # plant: decontamination switched off, so the planted benchmark leak reaches the corpus
        planted = _materialize(env, "filtered_corpus", {"decontaminate": False})
        assert planted.returncode != 0, "the contamination check did not fail the run"
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("filtered_corpus"), "no_benchmark_contamination")])
        assert next(iter(check.values())).status.value == "FAILED"

        blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=watched,
                                                    cursor=settled.cursor)
        assert blocked.total_requested == 0, {k.to_user_string(): blocked.get_num_requested(k)
                                              for k in watched.resolve(defs.resolve_asset_graph())}
        # why, as the UI's automation evaluation shows it: the corpus changed, but its checks failed
        tokenizer = next(r for r in blocked.results if r.key == dg.AssetKey("tokenizer"))
        why = {c.condition.get_label(): c.true_subset.size for c in tokenizer.child_results}
        assert why == {"eager": 1, "all_deps_blocking_checks_passed": 0}, why

        # launched by hand, a consumer refuses the contaminated corpus and says why
        by_hand = _materialize(env, "tokenizer")
        assert by_hand.returncode != 0
        message = by_hand.stdout + by_hand.stderr
        assert "failed blocking check(s) no_benchmark_contamination" in message, message[-3000:]
    finally:
        instance.dispose()
