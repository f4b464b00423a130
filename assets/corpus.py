"""filtered_corpus: decontaminated, score-selected, weighted pretraining corpus as sharded parquet."""


from collections import Counter
from typing import Literal

import dagster as dg
import pyarrow as pa

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.crawl import skipped_crawl_files
from assets.engine import engine_for, engine_progress, engine_work_dir, release_work_dir
from assets.inputs import upstream_artifact
from mimo.data.decontam import ContaminationIndex, load_benchmark_texts
from mimo.data.filtering import FilterConfig, decide
from mimo.data.tagging.features import TOKEN_COUNTER, approx_tokens
from mimo.lake.catalog import ArtifactRecord
from mimo.paths import git_commit, shared_dir
from resources.cluster import ClusterResource
from resources.lake import LakeResource

CORPUS_COLUMNS = ["doc_id", "url", "text", "title", "language", "domain", "quality", "knowledge_density",
                  "reasoning_depth", "n_words", "n_formulas", "n_code_blocks", "warc_file", "record_id"]


class CorpusConfig(dg.Config):
    """Selection and weighting (mirrors mimo.data.filtering.FilterConfig)."""

    min_quality: float = 2.0
    min_words: int = 50
    domain_weights: dict[str, float] = {"math": 2.0, "code": 2.0, "science": 1.5, "general": 1.0}
    value_weight: float = 0.5
    max_weight: float = 4.0
    heuristic_filters: list[str] = []
    shard_max_docs: int = 64
    decontaminate: bool = True  # drop documents with a 13-gram of an evaluation set (off only for ablations)
    # the n-gram check: row slices as data-engine tasks (local processes, or Slurm arrays on the
    # cluster resource's backend), or in this process; same hits either way
    decontam_runner: Literal["engine", "in_process"] = "engine"
    engine_workers: int = 2
    engine_work_root: str = ""  # "": <cluster job_root>/data-engine on Slurm, else {state}/data-engine


def _benchmark_hits(context: dg.AssetExecutionContext, config: CorpusConfig, cluster: ClusterResource,
                    upstream: dict, texts: list[str]) -> tuple[list[list[str]], dict]:
    """Each document's evaluation-set n-gram hits, and how they were computed."""
    if not config.decontaminate:
        return [[] for _ in texts], {"decontam_runner": "off"}
    benchmarks = load_benchmark_texts(shared_dir())
    if config.decontam_runner == "in_process":
        return ContaminationIndex.build(benchmarks).contaminated(texts), {"decontam_runner": "in_process"}
    from mimo.data.decontam_steps import hits_on_engine

    engine = engine_for(cluster, config.engine_workers)
    work = engine_work_dir("filtered_corpus", cluster, engine, config.engine_work_root,
                           {"pages": upstream["artifact_id"], "benchmarks": benchmarks})
    tasks = max(1, min(config.engine_workers, len(texts)))
    hits = hits_on_engine(f"{upstream['path']}/pages.parquet", benchmarks, work, tasks, engine,
                          engine_progress(context, "decontamination", engine))
    release_work_dir(work)
    return hits, {"decontam_runner": "engine", "engine_backend": engine.backend, "engine_tasks": tasks}


@dg.asset(
    deps=["tagged_pages"],
    group_name="pretrain_data",
    kinds={"parquet", "duckdb"},
    code_version="corpus-v1",
    description="Selected and weighted documents, decontaminated against MATH-500/AIME/HumanEval, "
                "as parquet shards readable by datasets and DuckDB.",
)
def filtered_corpus(context: dg.AssetExecutionContext, config: CorpusConfig, lake: LakeResource,
                    cluster: ClusterResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    upstream = upstream_artifact(context, lake, "tagged_pages")
    table = lake.lake().read_parquet(f"{upstream['path']}/pages.parquet")
    cfg = FilterConfig(**config.model_dump(include=set(FilterConfig.model_fields)))
    rows = table.to_pylist()
    hits_per_doc, decontam_meta = _benchmark_hits(context, config, cluster, upstream, [r["text"] for r in rows])
    kept, reasons, contaminated = [], Counter(), []
    for row, hits in zip(rows, hits_per_doc, strict=True):
        failures = {name.removeprefix("heuristic_"): row[name] for name in row if name.startswith("heuristic_")}
        decision = decide(row["domain"], row["quality"], row["knowledge_density"], row["reasoning_depth"],
                          row["n_words"], hits, failures, cfg)
        reasons[decision.reason] += 1
        if hits:
            contaminated.append({"url": row["url"], "hits": hits[:5]})
        if decision.keep:
            kept.append({**{c: row[c] for c in CORPUS_COLUMNS}, "weight": decision.weight})
    kept.sort(key=lambda r: r["doc_id"])
    shards = [kept[i: i + cfg.shard_max_docs] for i in range(0, len(kept), cfg.shard_max_docs)]
    domains_in = Counter(r["domain"] for r in rows)
    domains_out = Counter(r["domain"] for r in kept)
    tokens = sum(approx_tokens(r["text"]) for r in kept)
    skipped_files = skipped_crawl_files(lake.catalog().lineage(upstream["artifact_id"]))

    def write(tmp: str) -> WriteStats:
        lake_obj = lake.lake()
        for k, shard in enumerate(shards):
            lake_obj.write_parquet(pa.Table.from_pylist(shard), f"{tmp}/shard-{k:05d}.parquet")
        return WriteStats(row_count=len(kept), token_count=tokens, metadata={
            "docs_in": len(rows), "docs_out": len(kept), "shards": len(shards),
            "decisions": dict(reasons), "domains_in": dict(domains_in), "domains_out": dict(domains_out),
            "math_code_share_out": round((domains_out["math"] + domains_out["code"]) / max(len(kept), 1), 4),
            "weighted_domain_share": {d: round(sum(r["weight"] for r in kept if r["domain"] == d)
                                               / max(sum(r["weight"] for r in kept), 1e-9), 4) for d in domains_out},
            "contaminated_docs": contaminated, **decontam_meta, "token_counter": TOKEN_COUNTER, "skipped_crawl_files": skipped_files,
            "read_with": "datasets.load_dataset('parquet', data_files='<path>/shard-*.parquet'); "
                         "duckdb: SELECT * FROM read_parquet('<path>/shard-*.parquet')",
        })

    result = write_artifact(context, lake, config.model_dump(), write, upstream_ids=[upstream["artifact_id"]], meter=meter)
    _catalog_shards(context, lake, result, shards)
    return result


def _catalog_shards(context: dg.AssetExecutionContext, lake: LakeResource, result: dg.MaterializeResult,
                    shards: list[list[dict]]) -> None:
    """One catalog row per shard, linked to the crawl artifacts whose pages it holds."""
    catalog = lake.catalog()
    corpus_path = result.metadata["path"].value
    crawl_ids = {r["partition"]: r["artifact_id"] for r in catalog.lineage(result.metadata["artifact_id"].value)
                 if r["asset_key"] == "crawl_warc"}
    lake_obj = lake.lake()
    for k, shard in enumerate(shards):
        path = f"{corpus_path}/shard-{k:05d}.parquet"
        files = sorted({r["warc_file"] for r in shard})
        catalog.record(ArtifactRecord(
            asset_key="filtered_corpus/shard", path=path, content_hash=lake_obj.content_hash(path),
            partition=None, config_hash=result.metadata["config_hash"].value, git_commit=git_commit(),
            run_id=context.run.run_id, row_count=len(shard), token_count=sum(approx_tokens(r["text"]) for r in shard),
            metadata={"crawl_files": files, "corpus_artifact_id": result.metadata["artifact_id"].value},
            upstream_ids=[crawl_ids[f] for f in files if f in crawl_ids] + [result.metadata["artifact_id"].value],
        ))
