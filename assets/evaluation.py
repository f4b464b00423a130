"""Evaluation assets: ``eval_base``, ``eval_sft``, ``eval_rl_zero``, ``eval_rl`` (one per checkpoint of
the series), one partition per benchmark, with MiMo's
sampling (temperature 0.6, top-p 0.95, repeats per benchmark), per-sample parquet, avg@n / pass@k /
maj@n, and a regression check of each checkpoint against its parent (SFT and RL-Zero against Base,
RL against SFT)."""


import json
import math
import random
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from assets.common import MemoryMeter, WriteStats, timing_summary, write_artifact
from assets.inputs import upstream_artifact
from assets.problems import read_problems
from mimo.eval.evaluate import LATENCY_KEY, SAMPLE_SCHEMA
from mimo.eval.runner import EvalSettings, EvaluationIncomplete, run_evaluation
from mimo.eval.series import (
    BENCHMARKS,
    EVAL_ASSETS,
    MIMO_REPEATS,
    PARENT,
    SERIES,
    SERIES_LABELS,
)
from mimo.eval.stats import per_group, rounded
from mimo.generate.base import SamplingParams
from mimo.lake.storage import config_hash
from mimo.paths import expand
from resources.lake import LakeResource


def eval_asset_name(checkpoint: str) -> str:
    """The evaluation asset of one checkpoint of the series (``eval_base``, ``eval_sft``, ...)."""
    return EVAL_ASSETS[checkpoint]


class EvalConfig(dg.Config):
    """Sampling, repeats and caps of the evaluations (MiMo's settings by default)."""

    repeats: dict[str, int] = MIMO_REPEATS
    max_problems: dict[str, int] = {}  # noqa: RUF012 - benchmark -> cap (a seeded sample); absent or 0 = all
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 32_768
    backend: str = "transformers"  # how a checkpoint is served: transformers (CPU/GPU) or vllm
    batch_size: int = 64
    device: str = "auto"
    code_scheme: str = "vanilla"  # a code sample passes when every test passes
    reward_workers: int = 2
    chunk_problems: int = 32
    max_error_fraction: float = 0.2
    regression_tolerance: float = 0.02
    seed: int = 0
    work_root: str = "{state}/eval-work"


def benchmark_problems(context: Any, lake: LakeResource, benchmark: str, cap: int, seed: int) -> tuple[list, dict]:
    """The problems of one benchmark from the latest ``evaluation_sets`` (the held-out toy split for
    ``toy_heldout``), capped by a seeded sample; and that artifact's catalog row."""
    problems, art = read_problems(context, lake, "evaluation_sets")
    if benchmark == "toy_heldout":
        chosen = [p for p in problems if p.split == "heldout"]
    else:
        chosen = [p for p in problems if p.source == benchmark]
    if not chosen:
        present = sorted({p.source for p in problems if p.split != "heldout"})
        raise dg.Failure(f"benchmark {benchmark!r} is not in evaluation_sets (it has {present}); add it to "
                         "evaluation_sets.benchmarks in the profile and rematerialize evaluation_sets")
    if cap and len(chosen) > cap:
        chosen = sorted(random.Random(seed).sample(chosen, cap), key=lambda p: p.id)
    return chosen, art


def _short_set_note(config: EvalConfig, benchmark: str, available: int) -> str:
    """A warning when the benchmark has fewer problems than the configured cap asks for."""
    asked = config.max_problems.get(benchmark, 0)
    if asked and available < asked:
        return (f"{benchmark}: {available} problems evaluated, fewer than the {asked} asked for "
                "(the evaluation set is smaller); intervals are wider than planned")
    return ""


def regression_vs_parent(context: Any, config: EvalConfig, lake: LakeResource, checkpoint: str, benchmark: str,
                         metrics: dict, n: int) -> tuple[bool, dict[str, Any]]:
    """(passed, details): pass@1 of this evaluation against the parent checkpoint's latest one on
    the same benchmark; a drop beyond max(tolerance, 2 standard errors) fails."""
    parent = PARENT.get(checkpoint)
    key = f"avg@{n}"
    meta: dict[str, Any] = {"checkpoint": checkpoint, "benchmark": benchmark, "parent": parent or "none"}
    if parent is None:
        return True, {**meta, "note": "the base model has no parent"}
    row = upstream_artifact(context, lake, eval_asset_name(parent), benchmark, required=False)
    if row is None:
        return True, {**meta, "note": f"{parent} not evaluated on {benchmark} yet"}
    parent_meta = json.loads(row["metadata"])
    p_child, p_parent = metrics.get(key, 0.0), parent_meta["metrics"].get(f"avg@{parent_meta['n']}", 0.0)
    n_child, n_parent = max(metrics.get("samples", 1), 1), max(parent_meta["metrics"].get("samples", 1), 1)
    se = math.sqrt(p_child * (1 - p_child) / n_child + p_parent * (1 - p_parent) / n_parent)
    tolerance = max(config.regression_tolerance, 2 * se)
    delta = p_child - p_parent
    return bool(delta >= -tolerance), {**meta, "pass@1": round(p_child, 4), "parent_pass@1": round(p_parent, 4),
                                       "delta": round(delta, 4), "tolerance": round(tolerance, 4),
                                       "parent_artifact": row["artifact_id"]}


def build_eval_assets(benchmarks: list[str] | None = None) -> list[dg.AssetsDefinition]:
    """One evaluation asset per checkpoint of the series, partitioned by benchmark (the profile's
    ``eval_benchmarks``; all known benchmarks when empty). Each depends only on the checkpoint it
    evaluates and on ``evaluation_sets``, so retraining one model makes only its evaluations stale."""
    unknown = sorted(set(benchmarks or ()) - set(BENCHMARKS))
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    partitions = dg.StaticPartitionsDefinition(list(benchmarks or BENCHMARKS))
    return [_eval_asset(checkpoint, partitions) for checkpoint in SERIES]


def _eval_asset(checkpoint: str, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    name = eval_asset_name(checkpoint)

    @dg.asset(
        name=name, partitions_def=partitions, deps=[SERIES[checkpoint], "evaluation_sets"], group_name="evaluation",
        kinds={"parquet"}, code_version="eval-v2", pool="gpu",
        check_specs=[dg.AssetCheckSpec("no_regression_vs_parent", asset=name,
                                       description="pass@1 not below the parent checkpoint's beyond noise "
                                                   "(2 standard errors or the configured tolerance)")],
        description=f"{SERIES_LABELS[checkpoint]} ({SERIES[checkpoint]}) on one benchmark (a partition): n samples "
                    "per problem at MiMo's settings (temperature 0.6, top-p 0.95), per-sample parquet, pass@1 as "
                    "the mean over repeats, pass@k, maj@n. Resumable.",
    )
    def _evaluate(context: dg.AssetExecutionContext, config: EvalConfig, lake: LakeResource) -> dg.MaterializeResult:
        return evaluate_checkpoint(context, config, lake, checkpoint, context.partition_key)

    return _evaluate


def evaluate_checkpoint(context: dg.AssetExecutionContext, config: EvalConfig, lake: LakeResource, checkpoint: str,
                        benchmark: str) -> dg.MaterializeResult:
    """Evaluate one checkpoint of the series on one benchmark and catalog the samples and metrics."""
    meter = MemoryMeter()
    ckpt = upstream_artifact(context, lake, SERIES[checkpoint])
    problems, sets = benchmark_problems(context, lake, benchmark, config.max_problems.get(benchmark, 0), config.seed)
    n = config.repeats.get(benchmark, 1)
    settings = EvalSettings(
        n=n, sampling=SamplingParams(temperature=config.temperature, top_p=config.top_p,
                                     max_tokens=config.max_tokens, seed=config.seed),
        code_scheme=config.code_scheme, reward_workers=config.reward_workers, chunk_problems=config.chunk_problems,
        max_error_fraction=config.max_error_fraction, ks=tuple(sorted({1, n})))
    identity = {**config.model_dump(), "checkpoint": checkpoint, "benchmark": benchmark, "n": n,
                "checkpoint_hash": ckpt["content_hash"], "evaluation_sets_hash": sets["content_hash"],
                "problems": [p.id for p in problems]}
    work = Path(expand(config.work_root)) / checkpoint / benchmark / config_hash(identity)
    model_dir = f"{ckpt['path']}/model"

    def make_generator():
        from mimo.generate.config import GeneratorConfig
        from mimo.generate.config import make_generator as build

        try:
            return build(GeneratorConfig(backend=config.backend, model=model_dir, batch_size=config.batch_size,
                                         device=config.device))
        except Exception as e:
            raise dg.Failure(f"checkpoint {SERIES[checkpoint]} ({model_dir}) failed to load: "
                             f"{type(e).__name__}: {e}") from e

    context.log.info(f"evaluating {checkpoint} ({model_dir}) on {benchmark}: {len(problems)} problems x {n} samples")
    try:
        run = run_evaluation(problems, make_generator, settings, work, benchmark=benchmark,
                             log=context.log.info, show_progress=False)
    except EvaluationIncomplete as e:
        raise dg.Failure(str(e)) from e
    levels = {p.id: p.metadata.get("level", p.domain) for p in problems}  # code tasks: their own group
    if any(p.metadata.get("level") is not None for p in problems):
        run.metrics["per_level"] = {k: rounded(v) for k, v in per_group(
            [r for r in run.rows if r["status"] != "generation_error"], levels).items()}
    short = _short_set_note(config, benchmark, len(problems))
    if short:
        context.log.warning(short)
    passed, regression = regression_vs_parent(context, config, lake, checkpoint, benchmark, run.metrics, n)

    def write(tmp: str) -> WriteStats:
        pq.write_table(pa.Table.from_pylist(run.rows, schema=SAMPLE_SCHEMA), f"{tmp}/samples.parquet")
        summary = {"checkpoint": checkpoint, "checkpoint_asset": SERIES[checkpoint], "benchmark": benchmark,
                   "n": n, "metrics": run.metrics}
        Path(tmp, "summary.json").write_text(json.dumps(summary, indent=2))
        return WriteStats(row_count=len(run.rows), metadata={
            "checkpoint": checkpoint, "checkpoint_asset": SERIES[checkpoint], "checkpoint_path": ckpt["path"],
            "benchmark": benchmark, "n": n, "metrics": run.metrics,
            "pass@1": round(run.metrics.get(f"avg@{n}", 0.0), 4), "problems": len(problems),
            "masked_generation_errors": run.generation_errors, "first_error": run.first_error or "",
            "samples_generated": run.samples_generated, "samples_resumed": run.samples_resumed,
            "samples_per_s": round(run.samples_per_s, 3), "seconds": round(run.seconds, 2),
            **timing_summary((r[LATENCY_KEY] for r in run.rows if LATENCY_KEY in r), "latency_s", digits=3),
            "generation": run.usage.to_metadata(), "sampling": settings.sampling.to_dict(),
            "regression_check": {"passed": passed, **regression},
            **({"evaluation_set_note": short} if short else {}),
        })

    result = write_artifact(context, lake, identity, write, upstream_ids=[ckpt["artifact_id"], sets["artifact_id"]],
                            partition=benchmark, meter=meter)
    check = dg.AssetCheckResult(check_name="no_regression_vs_parent", passed=passed,
                                severity=dg.AssetCheckSeverity.WARN, metadata=regression)
    return dg.MaterializeResult(metadata=result.metadata, data_version=result.data_version, check_results=[check])
