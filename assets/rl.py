"""RL checkpoints: RL-Zero (GRPO straight from the base model) and RL (GRPO from the SFT model), on
the curated math and code problem sets, through the cluster resource (``python -m mimo.rl.train``).
Per-step metrics stream over Dagster Pipes and are saved with the checkpoint; curves as metadata."""


import json
import os
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from assets.pretraining import _plot_md
from mimo.cluster.job import CompanionSpec, JobSpec
from mimo.lake.storage import config_hash
from mimo.paths import expand
from resources.cluster import ClusterResource
from resources.lake import LakeResource


class RLConfig(dg.Config):
    """GRPO and rollout-engine settings (MiMo's values are the engine defaults; the tiny profile
    scales the batch and lengths down)."""

    steps: int = 6
    num_generations: int = 8
    batch_prompts: int = 8
    mini_batch_prompts: int = 4
    micro_batch_samples: int = 16
    learning_rate: float = 1e-5
    max_completion_length: int = 256
    temperature: float = 1.0
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    loss_type: str = "token"
    beta: float = 0.0
    easy_pool_probability: float = 0.1
    code_reward_scheme: str = "strict"
    continuous: bool = True
    async_reward: bool = True
    early_termination: bool = True
    generation_batch_groups: int = 4
    # engines: a pool of rollout engine processes, weights pushed after every update (the cluster
    # topology; one engine here); inflight / batch / vllm: a generator inside the trainer process
    rollout_backend: str = "engines"
    engines: int = 1  # rollout engines (per rollout node when rollout_nodes > 0)
    engine_backend: str = "inflight"  # inflight (transformers, CPU) | vllm (GPU)
    engine_threads: int | None = None  # torch threads per engine process (default: threads)
    engine_gpus: int = 0  # GPUs per engine (rollout nodes: tensor parallel size of its vLLM engine)
    rollout_nodes: int = 0  # > 0: engines on their own nodes (a heterogeneous Slurm job); 0: started by rank 0
    max_staleness: int = 0  # weight versions a rollout may lag behind the policy
    procs_per_node: int | None = None  # trainer ranks per node (default: one per GPU, or 1)
    bf16: bool = False  # trainer ranks on GPUs: bf16 compute, fp32 gradient reductions
    reward_workers: int = 2
    reward_timeout_s: float = 30.0  # per-group margin; code groups add every test's own time limit
    code_threads: int = 1  # programs of one code group judged at a time
    judge_url: str = ""  # code rewards on the judge service (`mimo reward serve`); "" = local sandbox
    checkpoint_every_steps: int = 2
    threads: int = 2
    seed: int = 0
    work_root: str = "{state}/train"
    nodes: int = 1
    gpus_per_node: int = 0
    time_limit: str | None = None


def _rl_config(config: RLConfig, stage: str, init_dir: str, problem_files: list[str], out_dir: Path) -> dict:
    grpo = {k: getattr(config, k) for k in (
        "num_generations", "batch_prompts", "mini_batch_prompts", "micro_batch_samples", "learning_rate",
        "max_completion_length", "temperature", "epsilon", "epsilon_high", "loss_type", "beta",
        "easy_pool_probability", "code_reward_scheme", "steps", "seed")}
    return {"stage": stage, "init_from": init_dir, "problem_files": problem_files, "out_dir": str(out_dir),
            "grpo": grpo, "continuous": config.continuous, "async_reward": config.async_reward,
            "early_termination": config.early_termination, "generation_batch_groups": config.generation_batch_groups,
            "rollout_backend": config.rollout_backend, "engines": _engines(config),
            "reward_workers": config.reward_workers, "reward_timeout_s": config.reward_timeout_s,
            "code_threads": config.code_threads, "judge_url": config.judge_url or None,
            "checkpoint_every_steps": config.checkpoint_every_steps, "threads": config.threads, "bf16": config.bf16}


def _engines(config: RLConfig) -> dict[str, Any]:
    """The ``engines`` block of the RL job's config (mimo.rl.engines.EnginesConfig)."""
    external = config.rollout_nodes > 0
    return {"count": config.engines * max(config.rollout_nodes, 1), "backend": config.engine_backend,
            "threads": config.engine_threads or config.threads, "max_staleness": config.max_staleness,
            "launch": "external" if external else "local",
            **({"vllm": {"tensor_parallel_size": config.engine_gpus}} if config.engine_gpus > 1 else {}),
            # rollout nodes: found through the job's companion directory, synced from rank 0's node
            **({"sync_host": "auto", "sync_backend": "nccl" if config.gpus_per_node else "gloo"} if external else {})}


def _engine_companion(config: RLConfig, init_dir: str) -> CompanionSpec | None:
    """The rollout nodes of the RL job (``rollout_nodes > 0``): one engine server per task."""
    if config.rollout_backend != "engines" or config.rollout_nodes <= 0:
        return None
    from mimo.generate.base import SamplingParams
    from mimo.rl.engines.config import EnginesConfig
    from mimo.rl.engines.launch import engine_command

    engines = EnginesConfig(**_engines(config))
    sampling = SamplingParams(temperature=config.temperature, max_tokens=config.max_completion_length)
    command = engine_command(init_dir, None, 0, engines, sampling, config.num_generations * config.generation_batch_groups)
    return CompanionSpec(command=command, nodes=config.rollout_nodes, tasks_per_node=config.engines,
                         gpus_per_node=config.engines * config.engine_gpus, secret_env="MIMO_ENGINE_TOKEN",
                         env={"OMP_NUM_THREADS": str(engines.threads or config.threads)})


def build_rl_job_spec(config: RLConfig, stage: str, key: str, cfg_path: Path, init_dir: str) -> JobSpec:
    """The RL job: trainer ranks (torchrun over ``nodes`` x ``gpus_per_node``) and, with
    ``rollout_nodes``, the rollout engines as the job's companion (a heterogeneous Slurm job)."""
    return JobSpec.python_module(f"{stage}-{key[:8]}", "mimo.rl.train", ["--config", str(cfg_path)],
                                 nodes=config.nodes, gpus_per_node=config.gpus_per_node,
                                 procs_per_node=config.procs_per_node, time_limit=config.time_limit,
                                 env={"OMP_NUM_THREADS": str(config.threads)},
                                 companion=_engine_companion(config, init_dir))


def train_rl_asset(context: dg.AssetExecutionContext, config: RLConfig, lake: LakeResource,
                   cluster: ClusterResource, stage: str, init_asset: str) -> dg.MaterializeResult:
    """Run one RL job through the cluster resource and catalog its final model with lineage."""
    meter = MemoryMeter()
    init = upstream_artifact(context, lake, init_asset)
    sets = [upstream_artifact(context, lake, a) for a in ("rl_math_problems", "rl_code_problems")]
    files = [f"{a['path']}/problems.parquet" for a in sets]
    key = config_hash({"config": config.model_dump(), "init": init["content_hash"],
                       "problems": [a["content_hash"] for a in sets]})
    work = Path(expand(config.work_root)) / stage / key
    work.mkdir(parents=True, exist_ok=True)
    rl_cfg = _rl_config(config, stage, f"{init['path']}/model", files, work)
    cfg_path = work / "rl_config.yaml"
    tmp = cfg_path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(yaml.safe_dump(rl_cfg, sort_keys=True))
    os.replace(tmp, cfg_path)
    spec = build_rl_job_spec(config, stage, key, cfg_path, f"{init['path']}/model")
    run = cluster.run(context, spec)
    messages = [m for m in run.get_custom_messages() if isinstance(m, dict)]
    done = [m for m in messages if m.get("event") == "done"]
    if not done:
        raise dg.Failure(f"{stage}: the RL job ended without reporting its final model "
                         f"(job dir {run.metadata.get('cluster/job_dir')})")
    final = Path(done[-1]["final_dir"])
    history = json.loads((final / "rl_history.json").read_text())
    init_summary = json.loads(init["metadata"]).get("summary", {})

    def write(tmp_dir: str) -> WriteStats:
        from mimo.rl.history import history_metadata

        lake.lake().fs.put(str(final), f"{tmp_dir}/model", recursive=True)
        metadata: dict[str, Any] = {
            "summary": {**done[-1], "tokens_by_stage": init_summary.get("tokens_by_stage", {})},
            "steps": len(history), "rl_config": rl_cfg, "metrics_messages": len(messages),
            # final_<metric> from the last step that has it; reward_curve None where the update was
            # skipped; skipped_update_steps, skip_reasons
            **history_metadata(history),
            "initialized_from": init["path"],
            **{k: v for k, v in run.metadata.items()},
        }
        png = final / "rl_curves.png"
        if png.exists():
            metadata["rl_curves"] = _plot_md(png)
        return WriteStats(metadata=metadata)

    upstream = [init["artifact_id"]] + [a["artifact_id"] for a in sets]
    return write_artifact(context, lake, {**config.model_dump(), "stage": stage}, write, upstream_ids=upstream,
                          meter=meter)


@dg.asset(deps=["pretrain_stage3", "rl_math_problems", "rl_code_problems"], group_name="rl", kinds={"pytorch"},
          code_version="rl-v1", pool="gpu",
          description="RL-Zero: GRPO (token-level loss, no KL, Clip-Higher, dynamic sampling, easy pool) straight "
                      "from the base model on the curated problems, rule-based rewards only.")
def rl_zero_model(context: dg.AssetExecutionContext, config: RLConfig, lake: LakeResource,
                  cluster: ClusterResource) -> dg.MaterializeResult:
    return train_rl_asset(context, config, lake, cluster, "rl_zero", "pretrain_stage3")


@dg.asset(deps=["sft_model", "rl_math_problems", "rl_code_problems"], group_name="rl", kinds={"pytorch"},
          code_version="rl-v1", pool="gpu",
          description="RL: GRPO from the SFT model on the curated problems (MTP layers frozen).")
def rl_model(context: dg.AssetExecutionContext, config: RLConfig, lake: LakeResource,
             cluster: ClusterResource) -> dg.MaterializeResult:
    return train_rl_asset(context, config, lake, cluster, "rl", "sft_model")
