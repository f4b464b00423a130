"""reasoning_problems (training problem sets) and evaluation_sets (what nothing may train on)."""


import glob
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import upstream_artifact
from mimo.paths import expand
from mimo.problems.benchmarks import load_benchmark
from mimo.problems.records import (
    Problem,
    problems_to_table,
    read_jsonl,
    table_to_problems,
)
from mimo.problems.toy import generate_toy_problems
from resources.lake import LakeResource

_ID_PREFIX = re.compile(r"^[^:\s]+: ")


class ProblemsConfig(dg.Config):
    """Problem sources: the procedural toy generator and/or problem files in the record format."""

    toy_math: int = 600
    toy_code: int = 200
    toy_seed: int = 0
    toy_level_weights: dict[int, float] | None = None  # level (solution steps) -> weight; None = templates uniform
    heldout_fraction: float = 0.2
    problem_files: list[str] = []  # JSON lines of mimo.problems.records.Problem ({repo}/..., {shared}/...)


class EvaluationSetsConfig(dg.Config):
    """Evaluation sets (local copies in ../shared/benchmarks, or the Hugging Face hub)."""

    benchmarks: list[str] = ["math500", "aime24", "aime25", "humaneval"]
    source: str = "local"  # local | hub
    include_heldout_problems: bool = True  # the tiny profile evaluates on the toy held-out split


def read_problems(context: Any, lake: LakeResource, asset: str) -> tuple[list[Problem], dict]:
    """Problems of the latest artifact of a problem asset, and its catalog row."""
    art = upstream_artifact(context, lake, asset)
    return table_to_problems(lake.lake().read_parquet(f"{art['path']}/problems.parquet")), art


def _problem_paths(patterns: list[str]) -> list[str]:
    """Expanded local paths; globs allowed; a pattern matching nothing is a clear error."""
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(expand(pattern)))
        if not matches:
            raise dg.Failure(f"problem_files: nothing matches {expand(pattern)!r}")
        paths += matches
    return paths


def _counts(problems: list[Problem]) -> dict:
    return {"by_source": dict(Counter(p.source for p in problems)),
            "by_domain_split": dict(Counter(f"{p.domain}/{p.split}" for p in problems))}


def _write_problems(problems: list[Problem], extra: dict) -> Callable[[str], WriteStats]:
    def write(tmp: str) -> WriteStats:
        from mimo.lake.storage import Lake

        Lake(tmp).write_parquet(problems_to_table(problems), f"{tmp}/problems.parquet")
        return WriteStats(row_count=len(problems), metadata={**_counts(problems), **extra})
    return write


@dg.asset(
    group_name="reasoning_data", kinds={"parquet"}, code_version="problems-v1",
    description="Math and code problems (prompt, answer or tests with difficulty levels, reference solution, "
                "split) for synthetic solutions, SFT, RL and evaluation; the toy generator in the tiny profile.",
)
def reasoning_problems(context: dg.AssetExecutionContext, config: ProblemsConfig, lake: LakeResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    problems: list[Problem] = []
    if config.toy_math or config.toy_code:
        problems += generate_toy_problems(config.toy_math, config.toy_code, seed=config.toy_seed,
                                          heldout_fraction=config.heldout_fraction,
                                          level_weights=config.toy_level_weights)
    skipped, examples = Counter(), []
    for path in _problem_paths(config.problem_files):
        good, bad = read_jsonl(path)
        problems += good
        for lineno, reason in bad:
            skipped[_ID_PREFIX.sub("", reason).split(":")[0]] += 1
            examples.append(f"{path}:{lineno}: {reason}")
        context.log.info(f"{path}: {len(good)} problems, {len(bad)} malformed lines skipped")
    seen_prompts, seen_ids, unique, duplicates = set(), set(), [], 0
    for p in problems:
        key = " ".join(p.prompt.lower().split())
        if key in seen_prompts or p.id in seen_ids:
            duplicates += 1
            continue
        seen_prompts.add(key)
        seen_ids.add(p.id)
        unique.append(p)
    if not unique:
        raise dg.Failure(f"no usable problems (skipped: {dict(skipped)}); check ProblemsConfig")
    extra = {"skipped_by_reason": dict(skipped), "skipped_examples": examples[:20],
             "duplicate_prompts_dropped": duplicates}
    return write_artifact(context, lake, config.model_dump(), _write_problems(unique, extra), meter=meter)


@dg.asset(
    deps=["reasoning_problems"], group_name="reasoning_data", kinds={"parquet"}, code_version="evalsets-v1",
    description="Evaluation problems (MATH-500, AIME 2024/2025, HumanEval, and the held-out toy split in the "
                "tiny profile): the decontamination reference for synthetic, SFT and RL data.",
)
def evaluation_sets(context: dg.AssetExecutionContext, config: EvaluationSetsConfig, lake: LakeResource) -> dg.MaterializeResult:
    problems: list[Problem] = []
    upstream = []
    for name in config.benchmarks:
        try:
            loaded = load_benchmark(name, source=config.source)
        except Exception as e:  # noqa: BLE001 - one clear message naming the set and the source
            raise dg.Failure(f"cannot load evaluation set {name!r} from {config.source}: {e}") from e
        problems += loaded
        context.log.info(f"{name}: {len(loaded)} problems")
    if config.include_heldout_problems:
        training, art = read_problems(context, lake, "reasoning_problems")
        heldout = [p for p in training if p.split == "heldout"]
        problems += heldout
        upstream.append(art["artifact_id"])
    return write_artifact(context, lake, config.model_dump(), _write_problems(problems, {}), upstream_ids=upstream)
