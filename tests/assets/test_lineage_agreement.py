"""One lineage truth on the finished default run: for every checkpoint, the upstream artifacts that
Dagster records as the materialization's inputs (its input event pointers, what the UI's lineage
shows) are the ones the catalog links and ``mimo lineage`` prints."""

import json
import os
import subprocess
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]
CHECKPOINTS = ("pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion", "sft_model",
               "rl_zero_model", "rl_model")
POINTER = "dagster/input_event_pointer/"
pytestmark = pytest.mark.timeout(3000)  # the session fixture `tiny_run` may run the whole default graph


def _dagster_inputs(instance: dg.DagsterInstance, asset: str) -> tuple[str, dict[str, str]]:
    """(artifact id, {upstream asset: artifact id}) of the asset's latest materialization, as Dagster records it."""
    record = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records[0]
    mat = record.asset_materialization
    inputs = {}
    for tag, storage_id in mat.tags.items():
        if not tag.startswith(POINTER):
            continue
        upstream = tag[len(POINTER):]
        event = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey.from_user_string(upstream), storage_ids=[int(storage_id)]),
            limit=1).records[0]
        inputs[upstream] = event.asset_materialization.metadata["artifact_id"].value
    return mat.metadata["artifact_id"].value, inputs


def _cli_lineage(env: dict, asset: str) -> list[dict]:
    out = subprocess.run([str(REPO / ".venv/bin/mimo"), "lineage", asset, "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_dagster_lineage_and_mimo_lineage_agree_for_every_checkpoint(tiny_run):
    state, env, _ = tiny_run
    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    instance = dg.DagsterInstance.from_config(str(REPO))
    try:
        for asset in CHECKPOINTS:
            artifact_id, dagster_inputs = _dagster_inputs(instance, asset)
            assert dagster_inputs, f"{asset}: Dagster recorded no inputs"
            rows = _cli_lineage(env, asset)
            assert rows[0]["artifact_id"] == artifact_id, f"{asset}: mimo lineage starts from another artifact"
            catalog_inputs = {r["asset_key"]: r["artifact_id"] for r in rows if r["depth"] == 1}
            assert catalog_inputs == dagster_inputs, asset
    finally:
        instance.dispose()
