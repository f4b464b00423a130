"""Checkpoint assets: pretraining stages 1-3 (stage 3 = the base model) and the MTP expansion.

Each asset writes a TrainConfig, runs ``python -m mimo.train.pretrain`` through the cluster
resource (a local subprocess in the tiny profile, an sbatch job with DeepSpeed on clusters), streams
per-step metrics from the job over Dagster Pipes, then catalogs the final model with its lineage:
the stage's packed data, the previous checkpoint, the tokenizer, tokens per stage, losses, job id.
"""


import base64
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from mimo.cluster.job import JobSpec
from mimo.lake.storage import config_hash
from mimo.paths import expand
from resources.cluster import ClusterResource
from resources.lake import LakeResource

TINY_LR = [{"tokens": 40_000, "kind": "linear", "end_lr": 2e-3}, {"tokens": 120_000, "kind": "constant"},
           {"tokens": 80_000, "kind": "cosine", "end_lr": 6e-4}, {"tokens": 110_000, "kind": "constant"},
           {"tokens": 20_000, "kind": "cosine", "end_lr": 2e-4}]


class StageTrainingConfig(dg.Config):
    """One stage's training; the LR, batch and MTP-weight schedules are global (token-based)."""

    preset: str = "tiny"
    stage_tokens: int = 240_000
    micro_batch_size: int = 4
    batch_start: int = 8
    batch_end: int = 16
    batch_warmup_tokens: int = 60_000
    lr_start: float = 0.0
    lr_segments: list[dict] = TINY_LR
    mtp_weight_points: list[list[float]] = [[0, 0.3], [160_000, 0.1]]
    seed: int = 0
    checkpoint_every_steps: int = 20
    eval_rows: int = 8
    threads: int = 2
    num_mtp_layers: int | None = None  # mtp_expansion: total MTP layers after copying layer 0
    work_root: str = "{state}/train"  # must be visible to the cluster's nodes
    nodes: int = 1
    gpus_per_node: int = 0
    zero_stage: int = 1
    time_limit: str | None = None


def _plot_md(png: Path) -> dg.MetadataValue:
    data = base64.b64encode(png.read_bytes()).decode()
    return dg.MetadataValue.md(f"![loss curve](data:image/png;base64,{data})")


def _train_config(config: StageTrainingConfig, stage: str, data_dir: str, out_dir: Path, tokenizer_dir: str,
                  init: dict | None, model_stage: int, tokens_offset: int) -> dict[str, Any]:
    from mimo.model.presets import get_preset

    cfg: dict[str, Any] = {
        "stage": stage, "data_dirs": [data_dir], "out_dir": str(out_dir), "tokenizer": tokenizer_dir,
        "stage_tokens": config.stage_tokens, "tokens_offset": tokens_offset,
        "micro_batch_size": config.micro_batch_size,
        "batch": {"start": config.batch_start, "end": config.batch_end, "warmup_tokens": config.batch_warmup_tokens},
        "lr": {"start_lr": config.lr_start, "segments": config.lr_segments},
        "mtp_weight": {"points": [[int(t), float(v)] for t, v in config.mtp_weight_points]},
        "seed": config.seed, "checkpoint_every_steps": config.checkpoint_every_steps,
        "eval_rows": config.eval_rows, "threads": config.threads,
    }
    if init is None:
        cfg["model"] = {"preset": config.preset, "stage": model_stage}
    else:
        cfg["init_from"] = f"{init['path']}/model"
        shape = get_preset(config.preset).stage(model_stage)
        cfg["model_overrides"] = {"rope_theta": shape.rope_theta}
    if config.num_mtp_layers:
        cfg.update(num_mtp_layers=config.num_mtp_layers, freeze="all_but_new_mtp")
    if config.gpus_per_node:
        cfg["backend"] = "deepspeed"
    return cfg


def build_job_spec(config: StageTrainingConfig, stage: str, key: str, cfg_path: Path) -> JobSpec:
    """The training job: ``python -m mimo.train.pretrain`` (DeepSpeed config when on GPUs)."""
    deepspeed = None
    if config.gpus_per_node:
        from mimo.cluster.deepspeed import DeepSpeedOptions, deepspeed_config

        world = config.nodes * config.gpus_per_node
        deepspeed = deepspeed_config(DeepSpeedOptions(zero_stage=config.zero_stage,
                                                      micro_batch_per_gpu=config.micro_batch_size,
                                                      global_batch=config.batch_end), world_size=world)
    return JobSpec.python_module(f"{stage}-{key[:8]}", "mimo.train.pretrain", ["--config", str(cfg_path)],
                                 nodes=config.nodes, gpus_per_node=config.gpus_per_node, deepspeed=deepspeed,
                                 time_limit=config.time_limit, env={"OMP_NUM_THREADS": str(config.threads)})


def train_stage(context: dg.AssetExecutionContext, config: StageTrainingConfig, lake: LakeResource,
                cluster: ClusterResource, stage: str, data_asset: str, previous: str | None,
                model_stage: int, stage_tokens: int | None = None) -> dg.MaterializeResult:
    """Run one training stage through the cluster resource and catalog its final model
    (``stage_tokens`` overrides the config's, e.g. SFT epochs × shard tokens)."""
    meter = MemoryMeter()
    data = upstream_artifact(context, lake, data_asset)
    tok = upstream_artifact(context, lake, "tokenizer")
    init = upstream_artifact(context, lake, previous) if previous else None
    init_summary = json.loads(init["metadata"]).get("summary", {}) if init else {}
    tokens_offset = int(init_summary.get("global_tokens_end", 0))
    key = config_hash({"config": config.model_dump(), "data": data["content_hash"], "tokenizer": tok["content_hash"],
                       "init": init["content_hash"] if init else None})
    work = Path(expand(config.work_root)) / stage / key
    work.mkdir(parents=True, exist_ok=True)
    train_cfg = _train_config(config, stage, data["path"], work, tok["path"], init, model_stage, tokens_offset)
    if stage_tokens is not None:
        train_cfg["stage_tokens"] = stage_tokens
    cfg_path = work / "train_config.yaml"
    tmp = cfg_path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(yaml.safe_dump(train_cfg, sort_keys=True))
    os.replace(tmp, cfg_path)
    spec = build_job_spec(config, stage, key, cfg_path)
    run = cluster.run(context, spec)
    messages = [m for m in run.get_custom_messages() if isinstance(m, dict)]
    done = [m for m in messages if m.get("event") == "done"]
    if not done:
        raise dg.Failure(f"{stage}: the training job ended without reporting its final model "
                         f"(job dir {run.metadata.get('cluster/job_dir')})")
    final = Path(done[-1]["final_dir"])
    summary = json.loads((final / "training_summary.json").read_text())
    tokens_by_stage = {**init_summary.get("tokens_by_stage", {}), stage: summary["stage_tokens_trained"]}
    summary["tokens_by_stage"] = tokens_by_stage

    def write(tmp_dir: str) -> WriteStats:
        lake.lake().fs.put(str(final), f"{tmp_dir}/model", recursive=True)
        metadata: dict[str, Any] = {
            "summary": summary, "tokens_by_stage": tokens_by_stage, "steps": summary["steps"],
            "final_loss_main": summary.get("final_loss_main"), "val_loss_main": summary.get("val_loss_main"),
            **{k: v for k, v in summary.items() if k.startswith(("final_loss_mtp", "loss_mtp", "val_loss_mtp"))},
            "train_config": train_cfg, "metrics_messages": len(messages),
            **done[-1].get("throughput", {}),  # this job's wall clock: metadata only, never in the files
            "load_with": "transformers.AutoModelForCausalLM.from_pretrained('<path>/model') (import mimo.model first)",
            **{k: v for k, v in run.metadata.items()},
        }
        png = final / "loss_curve.png"
        if png.exists():
            metadata["loss_curve"] = _plot_md(png)
        return WriteStats(token_count=summary["stage_tokens_trained"], metadata=metadata)

    upstream = [data["artifact_id"], tok["artifact_id"]] + ([init["artifact_id"]] if init else [])
    return write_artifact(context, lake, {**config.model_dump(), "stage": stage}, write,
                          upstream_ids=upstream, meter=meter)


@dg.asset(deps=["pretrain_data_stage1", "tokenizer"], group_name="pretraining", kinds={"pytorch"},
          code_version="pretrain-v1", pool="gpu",
          description="Stage 1: 8K context (tiny: 256), RoPE θ 10k, all sources except synthetic reasoning.")
def pretrain_stage1(context: dg.AssetExecutionContext, config: StageTrainingConfig, lake: LakeResource,
                    cluster: ClusterResource) -> dg.MaterializeResult:
    return train_stage(context, config, lake, cluster, "stage1", "pretrain_data_stage1", None, 1)


@dg.asset(deps=["pretrain_data_stage2", "tokenizer", "pretrain_stage1"], group_name="pretraining", kinds={"pytorch"},
          code_version="pretrain-v1", pool="gpu",
          description="Stage 2: math and code raised to about 70%, from the stage-1 checkpoint.")
def pretrain_stage2(context: dg.AssetExecutionContext, config: StageTrainingConfig, lake: LakeResource,
                    cluster: ClusterResource) -> dg.MaterializeResult:
    return train_stage(context, config, lake, cluster, "stage2", "pretrain_data_stage2", "pretrain_stage1", 2)


@dg.asset(deps=["pretrain_data_stage3", "tokenizer", "pretrain_stage2"], group_name="pretraining", kinds={"pytorch"},
          code_version="pretrain-v1", pool="gpu",
          description="Stage 3 (the base model): 32K context (tiny: 1024), RoPE θ 640k, ~10% synthetic reasoning.")
def pretrain_stage3(context: dg.AssetExecutionContext, config: StageTrainingConfig, lake: LakeResource,
                    cluster: ClusterResource) -> dg.MaterializeResult:
    return train_stage(context, config, lake, cluster, "stage3", "pretrain_data_stage3", "pretrain_stage2", 3)


@dg.asset(deps=["pretrain_data_stage3", "tokenizer", "pretrain_stage3"], group_name="pretraining", kinds={"pytorch"},
          code_version="mtp-expansion-v1", pool="gpu",
          description="MTP expansion: MTP layer 0 copied into more layers, trained with everything else frozen "
                      "(drafts for speculative decoding).")
def mtp_expansion(context: dg.AssetExecutionContext, config: StageTrainingConfig, lake: LakeResource,
                  cluster: ClusterResource) -> dg.MaterializeResult:
    if not config.num_mtp_layers or config.num_mtp_layers < 2:
        raise dg.Failure("mtp_expansion needs num_mtp_layers >= 2 (MiMo: 3)")
    return train_stage(context, config, lake, cluster, "mtp_expansion", "pretrain_data_stage3", "pretrain_stage3", 3)
