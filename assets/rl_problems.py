"""Curated RL problem sets (MiMo §3.1): math and code problems from the training split, deduplicated,
decontaminated, format- and reference-checked, then filtered by the SFT model's pass rate over 16
rollouts; code tests get difficulty levels from their per-test pass rates."""


import base64
import io
import json
from typing import Any

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from assets.problems import read_problems
from assets.synthetic_reasoning import evaluation_index
from mimo.lake.storage import Lake
from mimo.problems.records import Problem, problems_to_table
from resources.generator import GeneratorResource
from resources.lake import LakeResource


class RLProblemsConfig(dg.Config):
    """Curation settings; thresholds default to MiMo's (math: drop pass rate > 0.9; code: drop when
    all 16 rollouts pass). ``max_problems`` caps the candidates (tiny profile: CPU rollouts)."""

    rollouts: int = 16
    temperature: float = 1.0  # the RL rollout temperature
    max_tokens: int = 512
    batch_size: int = 64  # rollout generation batch (transformers backend)
    max_problems: int | None = None
    ngram: int = 13  # problem-level decontamination n-gram
    math_max_pass_rate: float = 0.9
    code_drop_all_pass: bool = True
    test_levels: int = 3
    llm_format_filter: bool = False  # ask the generator resource (a strong model) instead of rules only
    rollout_backend: str = "transformers"  # transformers | vllm (cluster): the SFT checkpoint generates
    seed: int = 0


def _histogram_md(hist: dict[str, Any], title: str) -> dg.MetadataValue:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = hist["edges"]
    fig, ax = plt.subplots(figsize=(5, 2.6))
    for domain in ("math", "code"):
        if any(hist.get(domain, [])):
            ax.bar([f"{edges[i]:.1f}" for i in range(len(edges) - 1)], hist[domain], alpha=0.7, label=domain)
    ax.set_xlabel("pass rate over rollouts (bin start)")
    ax.set_ylabel("problems")
    ax.set_title(title)
    ax.legend()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return dg.MetadataValue.md(f"![pass rates](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})")


def _rollout_generator(config: RLProblemsConfig, model_dir: str) -> Any:
    from mimo.generate.config import GeneratorConfig, make_generator

    return make_generator(GeneratorConfig(backend=config.rollout_backend, model=model_dir,
                                          batch_size=config.batch_size))


def curate(context: dg.AssetExecutionContext, config: RLProblemsConfig, lake: LakeResource,
           generator: GeneratorResource, domain: str) -> dg.MaterializeResult:
    """The curation pipeline for one domain; every step's removals in metadata."""
    import random

    from mimo.generate.base import SamplingParams
    from mimo.rl.curation import (
        check_reference_solutions,
        decontaminate_problems,
        dedup_problems,
        difficulty_filter,
        filter_format,
        level_tests,
        no_signal_message,
        pass_rate_histogram,
        rollout_pass_rates,
        signal_by_level,
    )

    meter = MemoryMeter()
    problems, prob_art = read_problems(context, lake, "reasoning_problems")
    eval_problems, eval_art = read_problems(context, lake, "evaluation_sets")
    sft = upstream_artifact(context, lake, "sft_model")
    funnel: dict[str, Any] = {}
    pool = [p for p in problems if p.domain == domain and p.split == "train"]
    funnel["candidates"] = len(pool)
    if config.max_problems is not None and len(pool) > config.max_problems:
        pool = sorted(random.Random(config.seed).sample(pool, config.max_problems), key=lambda p: p.id)
        funnel["sampled"] = len(pool)
    pool, funnel["removed_duplicates"] = dedup_problems(pool)
    pool, contaminated = decontaminate_problems(pool, evaluation_index(eval_problems, config.ngram))
    funnel["removed_contaminated"] = contaminated
    if domain == "math":
        llm = generator.build() if config.llm_format_filter else None
        try:
            pool, funnel["format_filter"] = filter_format(pool, llm=llm, progress=False)
        finally:
            if llm is not None:
                llm.close()
    else:
        pool, funnel["reference_check"] = check_reference_solutions(pool)
    if not pool:
        raise dg.Failure(f"rl_{domain}_problems: no problems left before rollouts ({funnel})")
    context.log.info(f"rl_{domain}_problems: {len(pool)} problems x {config.rollouts} rollouts with {sft['path']}")
    sampling = SamplingParams(n=config.rollouts, temperature=config.temperature, top_p=1.0,
                              max_tokens=config.max_tokens, seed=config.seed)
    gen = _rollout_generator(config, f"{sft['path']}/model")
    try:
        stats, usage = rollout_pass_rates(pool, gen, n=config.rollouts, sampling=sampling, progress=True,
                                          log=context.log.info)
    finally:
        gen.close()
    kept, funnel["difficulty_filter"] = difficulty_filter(pool, stats, math_max_pass_rate=config.math_max_pass_rate,
                                                         code_drop_all_pass=config.code_drop_all_pass)
    if domain == "code":
        kept = [level_tests(p, stats[p.id].test_pass_rates or [], n_levels=config.test_levels) for p in kept]
    kept = [_with_pass_rate(p, stats[p.id].pass_rate) for p in kept]
    funnel["kept"] = len(kept)
    hist = pass_rate_histogram(stats)
    by_level = signal_by_level(pool, stats)
    warning = no_signal_message(domain, by_level, len(kept))
    if warning:
        context.log.warning(warning)

    def write(tmp: str) -> WriteStats:
        store = Lake(tmp)
        store.write_parquet(problems_to_table(kept), f"{tmp}/problems.parquet")
        store.write_parquet(pa.Table.from_pylist([{**s.to_dict(), "statuses": json.dumps(s.statuses)}
                                                   for s in stats.values()]), f"{tmp}/rollout_stats.parquet")
        metadata: dict[str, Any] = {
            "funnel": funnel, "pass_rate_histogram": hist, "rollouts_per_problem": config.rollouts,
            "rollout_model": sft["path"], "rollout_model_artifact": sft["artifact_id"],
            "rollout_sampling": sampling.to_dict(), "generation": usage.to_metadata(),
            "mean_pass_rate": round(sum(s.pass_rate for s in stats.values()) / max(len(stats), 1), 4),
            "pass_rate_plot": _histogram_md(hist, f"rl_{domain}_problems: SFT pass rates"),
            "signal_by_level": by_level, **({"warning": warning} if warning else {}),
            "read_with": "mimo.problems.records.table_to_problems(pyarrow.parquet.read_table('<path>/problems.parquet'))",
        }
        if domain == "code":
            levels = [t.level for p in kept for t in p.tests]
            metadata["test_levels"] = {str(lv): levels.count(lv) for lv in sorted(set(levels))}
        return WriteStats(row_count=len(kept), metadata=metadata)

    return write_artifact(context, lake, {**config.model_dump(), "domain": domain}, write,
                          upstream_ids=[prob_art["artifact_id"], eval_art["artifact_id"], sft["artifact_id"]],
                          meter=meter)


def _with_pass_rate(problem: Problem, rate: float) -> Problem:
    from dataclasses import replace

    return replace(problem, metadata={**problem.metadata, "sft_pass_rate": rate})


@dg.asset(deps=["reasoning_problems", "evaluation_sets", "sft_model"], group_name="rl_data", kinds={"parquet"},
          code_version="rl-math-v1",
          description="RL math problems: dedup, decontamination, proof/multiple-choice filter, then problems the "
                      "SFT model solves in more than 90% of 16 rollouts dropped; pass rates kept.")
def rl_math_problems(context: dg.AssetExecutionContext, config: RLProblemsConfig, lake: LakeResource,
                     generator: GeneratorResource) -> dg.MaterializeResult:
    return curate(context, config, lake, generator, "math")


@dg.asset(deps=["reasoning_problems", "evaluation_sets", "sft_model"], group_name="rl_data", kinds={"parquet"},
          code_version="rl-code-v1",
          description="RL code problems: dedup, decontamination, problems without tests or whose reference "
                      "solution fails a test dropped, problems the SFT model solves in all 16 rollouts dropped; "
                      "each test gets a difficulty level from its pass rate over the rollouts.")
def rl_code_problems(context: dg.AssetExecutionContext, config: RLProblemsConfig, lake: LakeResource,
                     generator: GeneratorResource) -> dg.MaterializeResult:
    return curate(context, config, lake, generator, "code")
