"""mtp_speculative_eval materialized against a small real checkpoint cataloged as mtp_expansion."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import torch

from assets.inputs import register_artifact
from assets.speculative import mtp_speculative_eval
from mimo.lake.catalog import ArtifactRecord
from resources.lake import LakeResource
from tests.generate.spec_helpers import copy_draft_model


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tokenizer():
    from mimo.generate.tiny_model import default_tokenizer_texts
    from mimo.model.tokenizer import train_tokenizer

    return train_tokenizer(default_tokenizer_texts(200, 40), vocab_size=512)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def _lake_with_checkpoint(tmp_path: Path, tokenizer, instance, broken: bool = False) -> tuple[LakeResource, str]:
    """A lake whose catalog holds one mtp_expansion artifact, registered with the Dagster instance:
    a 3-MTP-layer model whose drafts copy the main model (so greedy acceptance must come out at 100%)."""
    lake = LakeResource(root=str(tmp_path / "lake"))
    ckpt = tmp_path / "lake" / "mtp_expansion" / "_all" / "abc123"
    model = copy_draft_model(vocab=len(tokenizer), mtp_layers=3, attention=0.0)
    model.save_pretrained(ckpt / "model")
    tokenizer.save_pretrained(ckpt / "model")
    if broken:
        (ckpt / "model" / "model.safetensors").write_bytes(b"not a safetensors file")
    artifact_id = register_artifact(instance, lake, ArtifactRecord(asset_key="mtp_expansion", path=str(ckpt),
                                                                   content_hash="c0ffee"))
    return lake, artifact_id


def _prompts(tmp_path: Path) -> str:
    path = tmp_path / "prompts.jsonl"
    rows = [{"problem": f"What is {i} + {i + 2}? Show your work."} for i in range(3)]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n" + json.dumps({"problem": 7}) + "\n")
    return str(path)


def _run_config(tmp_path: Path, **extra) -> dict:
    cfg = {"prompts_file": _prompts(tmp_path), "num_prompts": 5, "max_new_tokens": 12,
           "num_speculative": [1, 3, 4], "sampled_temperature": 0.6, **extra}
    return {"ops": {"mtp_speculative_eval": {"config": cfg}}}


def test_materializes_acceptance_speed_and_lineage(tmp_path, tokenizer, instance):
    lake, ckpt_id = _lake_with_checkpoint(tmp_path, tokenizer, instance)
    result = dg.materialize([mtp_speculative_eval], resources={"lake": lake}, run_config=_run_config(tmp_path),
                            instance=instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("mtp_speculative_eval")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["num_speculative"] == [1, 3]  # 4 > the checkpoint's 3 MTP layers: dropped
    assert meta["dagster/row_count"] == 3  # the two malformed prompt rows are skipped
    assert meta["acceptance_per_layer"] == {"1": 1.0, "2": 1.0, "3": 1.0}
    assert meta["acceptance_layer_3"] == 1.0 and meta["greedy_identical"] is True
    assert meta["tokens_per_step_k3"] > meta["tokens_per_step_k1"] > 1.0
    assert meta["tokens_per_s_plain"] > 0 and meta["speedup"] > 0
    assert meta["sampled_acceptance_layer_1"] >= 0.99
    assert meta["upstream_artifacts"] == [ckpt_id]
    report = json.loads(Path(meta["path"], "spec_decode.json").read_text())
    assert report["greedy"]["speculative"]["3"]["tokens"] == 3 * 12
    assert report["sampled"]["temperature"] == 0.6
    rows = lake.catalog().latest("mtp_speculative_eval")
    assert rows and rows[0]["path"] == meta["path"]
    assert ckpt_id in [r["artifact_id"] for r in lake.catalog().lineage(rows[0]["artifact_id"])]


def test_missing_or_broken_checkpoint_fails_clearly(tmp_path, tokenizer, instance):
    empty = LakeResource(root=str(tmp_path / "empty"))
    with pytest.raises(dg.Failure, match="mtp_expansion.*materialize it first"):
        dg.materialize([mtp_speculative_eval], resources={"lake": empty}, run_config=_run_config(tmp_path),
                       instance=instance)
    lake, _ = _lake_with_checkpoint(tmp_path / "b", tokenizer, instance, broken=True)
    with pytest.raises(dg.Failure, match="cannot load checkpoint"):
        dg.materialize([mtp_speculative_eval], resources={"lake": lake}, run_config=_run_config(tmp_path),
                       instance=instance)
