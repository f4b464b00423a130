"""Asset checks on the data assets: dedup rate band, no empty shard, math/code share, zero contamination."""


import json
from typing import Any

import dagster as dg
import pyarrow.parquet as pq

from assets.inputs import upstream_artifact
from mimo.data.decontam import ContaminationIndex, load_benchmark_texts
from mimo.paths import shared_dir
from resources.lake import LakeResource


class DedupRateCheckConfig(dg.Config):
    """Expected band of the overall dedup rate (outside it, something upstream is wrong)."""

    min_rate: float = 0.02
    max_rate: float = 0.6


class ShareCheckConfig(dg.Config):
    """Minimum share of math+code documents in the kept corpus."""

    min_math_code_share: float = 0.1


@dg.asset_check(asset="deduplicated_pages", blocking=True, description="Dedup rate lies in the configured band.")
def dedup_rate_in_band(context: dg.AssetCheckExecutionContext, config: DedupRateCheckConfig, lake: LakeResource) -> dg.AssetCheckResult:
    art = upstream_artifact(context, lake, "deduplicated_pages")
    meta = json.loads(art["metadata"])
    rate = meta["dedup_rate"]
    return dg.AssetCheckResult(
        passed=config.min_rate <= rate <= config.max_rate,
        metadata={"dedup_rate": rate, "band": [config.min_rate, config.max_rate]},
    )


def _shard_files(context: Any, lake: LakeResource) -> list[str]:
    art = upstream_artifact(context, lake, "filtered_corpus")
    fs = lake.lake().fs
    return sorted(p for p in fs.ls(art["path"], detail=False) if p.endswith(".parquet"))


def _read(lake: LakeResource, path: str, columns: list[str]):
    return pq.read_table(path, columns=columns, filesystem=lake.lake().fs)


@dg.asset_check(asset="filtered_corpus", blocking=True, description="The corpus has shards and none is empty.")
def no_empty_shard(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    files = _shard_files(context, lake)
    fs = lake.lake().fs
    rows = {}
    for f in files:
        with fs.open(f, "rb") as fh:
            rows[f.rsplit("/", 1)[-1]] = pq.ParquetFile(fh).metadata.num_rows
    empty = [f for f, n in rows.items() if n == 0]
    return dg.AssetCheckResult(passed=bool(files) and not empty,
                               metadata={"shards": len(files), "empty_shards": empty, "rows_per_shard": rows})


@dg.asset_check(asset="filtered_corpus", description="Math and code documents keep at least the configured share.")
def math_code_share(context: dg.AssetCheckExecutionContext, config: ShareCheckConfig, lake: LakeResource) -> dg.AssetCheckResult:
    domains = [d for f in _shard_files(context, lake) for d in _read(lake, f, ["domain"])["domain"].to_pylist()]
    share = sum(d in ("math", "code") for d in domains) / max(len(domains), 1)
    return dg.AssetCheckResult(passed=share >= config.min_math_code_share,
                               severity=dg.AssetCheckSeverity.WARN,
                               metadata={"math_code_share": round(share, 4), "min": config.min_math_code_share,
                                         "docs": len(domains)})


@dg.asset_check(asset="filtered_corpus", blocking=True,
                description="Zero 13-gram overlap with MATH-500, AIME 2024/2025 and HumanEval problems.")
def no_benchmark_contamination(context: dg.AssetCheckExecutionContext, lake: LakeResource) -> dg.AssetCheckResult:
    index = ContaminationIndex.build(load_benchmark_texts(shared_dir()))
    hits = []
    for f in _shard_files(context, lake):
        table = _read(lake, f, ["url", "text"])
        for url, text in zip(table["url"].to_pylist(), table["text"].to_pylist()):
            found = index.hits(text)
            if found:
                hits.append({"url": url, "hits": found[:5]})
    return dg.AssetCheckResult(passed=not hits, metadata={"contaminated_docs": len(hits), "examples": hits[:10],
                                                          "benchmark_ngrams": len(index.grams)})
