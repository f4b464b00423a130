"""The four dedup stages in order on the data engine, and what they found."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.minhash import DedupResult, MinHashConfig, result_from_cluster_ids
from mimo.data.dedup.stages.buckets import BucketStep
from mimo.data.dedup.stages.clusters import ClusterStep
from mimo.data.dedup.stages.filter import RemovedFilter
from mimo.data.dedup.stages.layout import band_dir, removed_file
from mimo.data.dedup.stages.reader import ParquetTextShards
from mimo.data.dedup.stages.signatures import SignatureStep
from mimo.data.engine import EngineConfig, StageRun, run_stage

RECORDS_PER_BUCKET_TASK = 4_000_000  # band records one bucket task loads (about 48 bytes each)


@dataclass
class MultiStageResult:
    """Per shard, ``removed[s]``: ``[k, 2]`` (index in shard, id kept instead); the stage runs."""

    removed: list[np.ndarray]
    documents: int
    clusters: dict
    stages: list[StageRun] = field(default_factory=list)
    parts: int = 1

    @property
    def n_removed(self) -> int:
        return int(sum(len(r) for r in self.removed))

    @property
    def peak_rss_mb_per_worker(self) -> float:
        return max((s.max_rss_mb for s in self.stages), default=0.0)


def bucket_parts(records_per_band: int, max_records: int = RECORDS_PER_BUCKET_TASK) -> int:
    """Key ranges per band so that no bucket task loads more than ``max_records`` records."""
    return max(1, math.ceil(records_per_band / max_records))


def multistage_minhash(shards: Sequence[str], work_dir: str | Path, config: MinHashConfig = MinHashConfig(),
                       engine: EngineConfig | None = None, max_bucket_records: int = RECORDS_PER_BUCKET_TASK,
                       sink: Sequence[PipelineStep] = (),
                       progress: Callable[[str, int, int], None] | None = None,
                       skip: Sequence[PipelineStep] = (), filter_stage: bool = True) -> MultiStageResult:
    """Run signatures -> buckets -> clusters -> filter over parquet ``shards`` (column ``text``);
    ``skip``: steps between the reader and the signatures that drop documents (earlier passes'
    removals); ``sink``: steps after the filter (e.g. a writer); ``filter_stage=False`` stops after
    the clusters. A rerun skips the tasks that completed."""
    work = str(work_dir)
    logs = Path(work) / "logs"
    n = len(shards)
    runs = [run_stage("signatures", [ParquetTextShards(shards), *skip, SignatureStep(work, config)], n,
                      logs / "signatures", engine, progress)]
    metas = [json.loads((band_dir(work, s) / "meta.json").read_text()) for s in range(n)]
    records = sum(m["records"] for m in metas)
    parts = bucket_parts(records, max_bucket_records)
    runs.append(run_stage("buckets", [BucketStep(work, n, config.num_bands, parts)], config.num_bands * parts,
                          logs / f"buckets-{parts}", engine, progress))
    runs.append(run_stage("clusters", [ClusterStep(work, n, config.num_bands, parts)], 1, logs / f"clusters-{parts}",
                          engine, progress))
    if filter_stage:
        runs.append(run_stage("filter", [ParquetTextShards(shards), RemovedFilter(work), *sink], n, logs / "filter",
                              engine, progress))
    clusters = json.loads((Path(work) / "clusters.json").read_text())
    return MultiStageResult([np.load(removed_file(work, s)) for s in range(n)], sum(m["documents"] for m in metas),
                            clusters, runs, parts)


def as_dedup_result(result: MultiStageResult, shard_sizes: Sequence[int]) -> DedupResult:
    """The stages' outcome in the in-memory pass's terms, over the concatenated shards."""
    offsets = np.concatenate(([0], np.cumsum(shard_sizes))).astype(np.int64)
    cid = np.arange(int(offsets[-1]), dtype=np.int64)
    for shard, removed in enumerate(result.removed):
        if len(removed):
            roots = removed[:, 1]
            cid[offsets[shard] + removed[:, 0]] = offsets[roots >> 32] + (roots & 0xFFFFFFFF)
    return result_from_cluster_ids(cid, n_candidate_pairs=int(result.clusters.get("candidate_pairs", 0)))
