"""The whole global dedup of the corpus on the engine: URL, then exact content, then MinHash,
each pass skipping what the passes before removed, then one writer task per shard.

Stages: url keys -> url find -> exact keys -> exact find -> minhash signatures -> buckets ->
clusters -> write. Every task reads one shard, one key range or the pairs, so memory per task
depends on the shard size and the number of key ranges, not on the corpus. The order of the
passes and "the earliest copy is kept" are those of the in-process dedup of ``deduplicated_pages``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimo.data.dedup.minhash import MinHashConfig
from mimo.data.dedup.stages.keys import KINDS, KeyFindStep, KeySignatureStep, SkipRemoved, keys_dir
from mimo.data.dedup.stages.pipeline import RECORDS_PER_BUCKET_TASK, bucket_parts, multistage_minhash
from mimo.data.dedup.stages.reader import ParquetTextShards
from mimo.data.dedup.stages.writer import ShardWriter, kept_file, kept_tokens_file, removals_file
from mimo.data.engine import EngineConfig, StageRun, run_stage

KEYS_PER_FIND_TASK = 8_000_000  # key records one find task loads (24 bytes each)


@dataclass
class FullDedupResult:
    """Per shard, the kept rows' and the removals' parquet files; the kept texts' tokens; MinHash
    cluster counts; stage runs."""

    kept: list[Path]
    removals: list[Path]
    kept_tokens: int
    clusters: dict
    stages: list[StageRun] = field(default_factory=list)

    @property
    def peak_rss_mb_per_worker(self) -> float:
        return max((s.max_rss_mb for s in self.stages), default=0.0)


def _key_pass(kind: str, shards: Sequence[str], work: str, engine: EngineConfig | None, max_keys: int,
              progress: Callable[[str, int, int], None] | None) -> list[StageRun]:
    n, logs = len(shards), Path(work) / "logs"
    before = list(KINDS[:KINDS.index(kind)])
    reader = ParquetTextShards(shards, "url" if kind == "url" else "text")
    steps = [reader, *([SkipRemoved(work, before)] if before else []), KeySignatureStep(work, kind)]
    runs = [run_stage(f"{kind} keys", steps, n, logs / f"{kind}-keys", engine, progress)]
    records = sum(len(np.load(keys_dir(work, kind, s) / "ids.npy", mmap_mode="r")) for s in range(n))
    parts = bucket_parts(records, max_keys)
    path = Path(work) / kind / "parts.json"
    tmp = path.with_name(f"parts.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps({"parts": parts, "records": records}))
    os.replace(tmp, path)
    runs.append(run_stage(f"{kind} find", [KeyFindStep(work, kind, n, parts)], parts, logs / f"{kind}-find-{parts}",
                          engine, progress))
    return runs


def full_dedup(shards: Sequence[str], work_dir: str | Path, config: MinHashConfig = MinHashConfig(),
               engine: EngineConfig | None = None, max_keys: int = KEYS_PER_FIND_TASK,
               max_bucket_records: int = RECORDS_PER_BUCKET_TASK,
               progress: Callable[[str, int, int], None] | None = None) -> FullDedupResult:
    """Dedup parquet ``shards`` (columns ``url`` and ``text``, any others carried along) in order;
    a rerun skips the tasks that completed."""
    work = str(work_dir)
    runs: list[StageRun] = []
    for kind in KINDS:
        runs += _key_pass(kind, shards, work, engine, max_keys, progress)
    mh = multistage_minhash(shards, work, config, engine, max_bucket_records, progress=progress,
                            skip=[SkipRemoved(work, KINDS)], filter_stage=False)
    runs += mh.stages
    n = len(shards)
    runs.append(run_stage("write", [ShardWriter(shards, work, KINDS)], n, Path(work) / "logs" / "write", engine,
                          progress))
    tokens = sum(json.loads(kept_tokens_file(work, s).read_text())["tokens"] for s in range(n))
    return FullDedupResult([kept_file(work, s) for s in range(n)], [removals_file(work, s) for s in range(n)],
                           tokens, mh.clusters, runs)
