"""synthetic_reasoning: the three strategies merged and n-gram decontaminated against every
evaluation set; the input of pretraining stage 3 and of the SFT dataset."""


import json
from collections import Counter

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from assets.problems import read_problems
from mimo.data.decontam import SFT_NGRAM, ContaminationIndex, decontaminate
from mimo.problems.records import Problem
from mimo.synth.samples import SAMPLE_SCHEMA, sample_text
from resources.lake import LakeResource

STRATEGY_ASSETS = {"grounded_analysis": "synthetic_grounded_analyses",
                   "problem_solution": "synthetic_problem_solutions",
                   "general_query": "synthetic_general_responses"}


class SyntheticReasoningConfig(dg.Config):
    """Decontamination n-gram size (MiMo uses 16-grams for SFT data)."""

    ngram: int = SFT_NGRAM


def evaluation_index(problems: list[Problem], n: int) -> ContaminationIndex:
    """n-gram index of evaluation prompts, keyed by set (held-out toy problems as ``toy_heldout``)."""
    by_set: dict[str, list[str]] = {}
    for p in problems:
        name = f"{p.source}_heldout" if p.split == "heldout" else p.source
        by_set.setdefault(name, []).append(p.prompt)
    return ContaminationIndex.build(by_set, n=n)


@dg.asset(
    deps=list(STRATEGY_ASSETS.values()) + ["evaluation_sets"], group_name="reasoning_data",
    kinds={"parquet"}, code_version="synth-merge-v1",
    description="All synthetic reasoning samples in chat format with provenance, decontaminated by n-gram "
                "overlap against every evaluation set (removed counts per benchmark in metadata).",
)
def synthetic_reasoning(context: dg.AssetExecutionContext, config: SyntheticReasoningConfig,
                        lake: LakeResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    eval_problems, eval_art = read_problems(context, lake, "evaluation_sets")
    index = evaluation_index(eval_problems, config.ngram)
    rows, upstream, yields = [], [eval_art["artifact_id"]], {}
    for strategy, asset in STRATEGY_ASSETS.items():
        art = upstream_artifact(context, lake, asset)
        upstream.append(art["artifact_id"])
        part = lake.lake().read_parquet(f"{art['path']}/samples.parquet").to_pylist()
        rows += part
        meta = json.loads(art["metadata"])
        yields[strategy] = {k: meta["yield"][k] for k in ("prompts", "generated", "verified", "kept")}
    kept, report = decontaminate(rows, index, sample_text)
    kept_by_strategy = Counter(r["strategy"] for r in kept)
    for strategy, y in yields.items():
        y["kept_after_decontamination"] = kept_by_strategy.get(strategy, 0)
    if not kept:
        raise dg.Failure(f"no synthetic samples left after decontamination ({report.to_metadata()})")
    kept.sort(key=lambda r: (r["strategy"], r["id"]))
    tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in kept)

    def write(tmp: str) -> WriteStats:
        lake.lake().write_parquet(pa.Table.from_pylist(kept, schema=SAMPLE_SCHEMA), f"{tmp}/samples.parquet")
        return WriteStats(row_count=len(kept), token_count=tokens, metadata={
            "yield_by_strategy": yields, "decontamination": {"ngram": config.ngram, **report.to_metadata()},
            "evaluation_sets": dict(Counter(p.source if p.split != "heldout" else f"{p.source}_heldout"
                                            for p in eval_problems)),
            "generators": sorted({f"{r['generator_backend']}:{r['generator_model']}" for r in kept}),
        })

    return write_artifact(context, lake, config.model_dump(), write, upstream_ids=upstream, meter=meter)


@dg.asset_check(asset="synthetic_reasoning", blocking=True,
                description="Re-scans the output: no sample shares an n-gram with any evaluation set.")
def synthetic_no_eval_contamination(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    art = upstream_artifact(context, lake, "synthetic_reasoning")
    ngram = int(json.loads(art["metadata"])["decontamination"]["ngram"])
    rows = lake.lake().read_parquet(f"{art['path']}/samples.parquet").to_pylist()
    eval_problems, _ = read_problems(context, lake, "evaluation_sets")
    _, report = decontaminate(rows, evaluation_index(eval_problems, ngram), sample_text)
    return dg.AssetCheckResult(passed=report.removed == 0, metadata={"ngram": ngram, **{
        k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v for k, v in report.to_metadata().items()}})
