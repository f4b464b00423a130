"""The three MiMo synthetic-reasoning strategies, one asset each (lineage shows each sample's origin).

grounded analyses of high-reasoning-depth corpus documents, verified solutions to the training
problems, responses to general queries. Text comes from the generator resource.
"""


from collections.abc import Callable

import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.inputs import corpus_rows
from assets.problems import read_problems
from mimo.generate.base import Generator, SamplingParams
from mimo.paths import expand
from mimo.synth.general import (
    GeneralConfig,
    generate_general,
    read_queries,
    template_queries,
)
from mimo.synth.grounded import GroundedConfig, generate_grounded, select_documents
from mimo.synth.samples import StrategyYield, SyntheticSample, samples_to_table
from mimo.synth.solutions import SolutionConfig, generate_solutions
from resources.generator import GeneratorResource
from resources.lake import LakeResource


class SamplingFields(dg.Config):
    """Sampling settings shared by the strategy configs."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 2048
    seed: int = 0

    def params(self) -> SamplingParams:
        return SamplingParams(temperature=self.temperature, top_p=self.top_p,
                              max_tokens=self.max_tokens, seed=self.seed)


class GroundedAssetConfig(SamplingFields):
    min_reasoning_depth: float = 2.5
    domains: list[str] = ["math", "code", "science"]
    max_documents: int = 200
    max_document_words: int = 1500
    samples_per_document: int = 1


class SolutionsAssetConfig(SamplingFields):
    splits: list[str] = ["train"]
    samples_per_problem: int = 4
    max_kept_per_problem: int = 2
    verify_workers: int = 2
    math_timeout_s: float = 5.0
    code_time_limit_s: float = 2.0
    allow_weak_isolation: bool = False


class GeneralAssetConfig(SamplingFields):
    queries_file: str | None = None
    num_template_queries: int = 40
    samples_per_query: int = 1


def _writer(samples: list[SyntheticSample], tally: StrategyYield, generator: Generator,
            extra: dict) -> Callable[[str], WriteStats]:
    def write(tmp: str) -> WriteStats:
        from mimo.lake.storage import Lake

        Lake(tmp).write_parquet(samples_to_table(samples), f"{tmp}/samples.parquet")
        return WriteStats(
            row_count=len(samples), token_count=sum(s.prompt_tokens + s.completion_tokens for s in samples),
            metadata={"yield": tally.to_metadata(), "generator": generator.describe(), **extra,
                      "read_with": "datasets.load_dataset('parquet', data_files='<path>/samples.parquet')"})
    return write


def _require_some(samples: list, tally: StrategyYield) -> None:
    if not samples:
        raise dg.Failure(f"{tally.strategy}: nothing usable left after {tally.generated} generated samples "
                         f"from {tally.prompts} prompts; dropped: {dict(tally.dropped)}; "
                         f"usage: {tally.usage.to_metadata()}")


@dg.asset(
    deps=["filtered_corpus"], group_name="reasoning_data", kinds={"parquet"}, code_version="synth-grounded-v1",
    description="Strategy 1: analyses and in-depth thinking grounded on STEM documents of the filtered corpus "
                "tagged with high reasoning depth (chat format, with provenance).",
)
def synthetic_grounded_analyses(context: dg.AssetExecutionContext, config: GroundedAssetConfig,
                                lake: LakeResource, generator: GeneratorResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    rows, corpus = corpus_rows(context, lake, ["doc_id", "title", "text", "domain", "reasoning_depth"])
    cfg = GroundedConfig(min_reasoning_depth=config.min_reasoning_depth, domains=tuple(config.domains),
                         max_documents=config.max_documents, max_document_words=config.max_document_words,
                         samples_per_document=config.samples_per_document, params=config.params())
    docs = select_documents(rows, cfg)
    context.log.info(f"{len(docs)} of {len(rows)} corpus documents selected (reasoning depth >= "
                     f"{cfg.min_reasoning_depth}, domains {list(cfg.domains)})")
    with generator.build() as gen:
        samples, tally = generate_grounded(gen, docs, cfg, source_artifact=corpus["artifact_id"], log=context.log.info)
        _require_some(samples, tally)
        extra = {"documents_in_corpus": len(rows), "documents_selected": len(docs)}
        return write_artifact(context, lake, {**config.model_dump(), "generator": generator.model_dump()},
                              _writer(samples, tally, gen, extra), upstream_ids=[corpus["artifact_id"]], meter=meter)


@dg.asset(
    deps=["reasoning_problems"], group_name="reasoning_data", kinds={"parquet"}, code_version="synth-solutions-v1",
    description="Strategy 2: solutions to the training problems, kept only when verified (math answer matches "
                "via Math-Verify, program passes every test in the sandbox).",
)
def synthetic_problem_solutions(context: dg.AssetExecutionContext, config: SolutionsAssetConfig,
                                lake: LakeResource, generator: GeneratorResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    problems, art = read_problems(context, lake, "reasoning_problems")
    cfg = SolutionConfig(splits=tuple(config.splits), samples_per_problem=config.samples_per_problem,
                         max_kept_per_problem=config.max_kept_per_problem, params=config.params(),
                         verify_workers=config.verify_workers, math_timeout_s=config.math_timeout_s,
                         code_time_limit_s=config.code_time_limit_s,
                         allow_weak_isolation=config.allow_weak_isolation)
    with generator.build(problems=problems) as gen:
        samples, tally, info = generate_solutions(gen, problems, cfg, source_artifact=art["artifact_id"],
                                                  log=context.log.info)
        _require_some(samples, tally)
        return write_artifact(context, lake, {**config.model_dump(), "generator": generator.model_dump()},
                              _writer(samples, tally, gen, {"verification": info}),
                              upstream_ids=[art["artifact_id"]], meter=meter)


@dg.asset(
    group_name="reasoning_data", kinds={"parquet"}, code_version="synth-general-v1",
    description="Strategy 3: responses to general queries (creative writing), from a query file and/or "
                "templated queries.",
)
def synthetic_general_responses(context: dg.AssetExecutionContext, config: GeneralAssetConfig,
                                lake: LakeResource, generator: GeneratorResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    queries = template_queries(config.num_template_queries, seed=config.seed)
    skipped = {}
    if config.queries_file:
        path = expand(config.queries_file)
        try:
            from_file, skipped = read_queries(path)
        except OSError as e:
            raise dg.Failure(f"cannot read queries_file {path}: {e}") from e
        queries += from_file
        context.log.info(f"{path}: {len(from_file)} queries, {sum(skipped.values())} malformed lines skipped")
    cfg = GeneralConfig(samples_per_query=config.samples_per_query, params=config.params())
    with generator.build() as gen:
        samples, tally = generate_general(gen, queries, cfg, log=context.log.info)
        _require_some(samples, tally)
        extra = {"queries": len(queries), "skipped_query_lines": dict(skipped)}
        return write_artifact(context, lake, {**config.model_dump(), "generator": generator.model_dump()},
                              _writer(samples, tally, gen, extra), meter=meter)
