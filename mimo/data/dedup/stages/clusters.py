"""Stage 3: connected components over every bucket task's pairs; the removal list per shard."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.minhash import duplicate_clusters
from mimo.data.dedup.stages.layout import index_in_shard, pairs_file, removed_file, save_atomic, shard_of


def components(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, roots)``: every id that has a pair and the lowest id of its component (union-find on
    the paired ids only: memory follows the duplicates, not the corpus)."""
    if not len(pairs):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ids = np.unique(pairs)
    local = np.searchsorted(ids, pairs)
    roots = ids[duplicate_clusters(len(ids), local)]
    return ids, roots


class ClusterStep(PipelineStep):
    """One task: reads the pairs of all ``bands x parts`` bucket tasks, writes per shard the
    ``(index in shard, kept id)`` of each removed document and ``clusters.json`` (counts)."""

    name = "minhash clusters"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, shards: int, bands: int, parts: int) -> None:
        super().__init__()
        self.work_dir, self.shards, self.bands, self.parts = work_dir, shards, bands, parts

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        chunks = [np.load(pairs_file(self.work_dir, b, p)) for b in range(self.bands) for p in range(self.parts)]
        pairs = np.concatenate(chunks) if chunks else np.zeros((0, 2), dtype=np.int64)
        with self.track_time(unit="task"):
            pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
            ids, roots = components(pairs)
        removed = ids != roots
        rid, rroot = ids[removed], roots[removed]
        shard = shard_of(rid)
        for s in range(self.shards):
            mine = shard == s
            save_atomic(removed_file(self.work_dir, s), np.stack([index_in_shard(rid[mine]), rroot[mine]], axis=1)
                        if mine.any() else np.zeros((0, 2), dtype=np.int64))
        per_cluster = np.unique(roots, return_counts=True)[1]
        sizes = np.unique(per_cluster, return_counts=True)
        summary = {"candidate_pairs": int(len(pairs)), "documents_in_clusters": int(len(ids)),
                   "clusters_with_dups": int(len(per_cluster)), "removed": int(removed.sum()),
                   "cluster_sizes": {str(int(k)): int(v) for k, v in zip(*sizes)}}
        path = Path(self.work_dir) / "clusters.json"
        tmp = path.with_name(f"clusters.json.tmp{os.getpid()}")
        tmp.write_text(json.dumps(summary))
        os.replace(tmp, path)
        self.stat_update("removed", value=summary["removed"])
        yield from ()
