"""Stage 2: one key range of one band across every shard -> candidate pairs."""

from __future__ import annotations

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.minhash import star_pairs
from mimo.data.dedup.stages.layout import band_file, pairs_file, save_atomic


def key_range(part: int, parts: int) -> tuple[int, int | None]:
    """``[lo, hi)`` of band keys for ``part`` of ``parts`` (``hi`` None: up to the largest key)."""
    lo = (part << 64) // parts
    hi = ((part + 1) << 64) // parts
    return lo, (hi if part + 1 < parts else None)


def bucket_pairs(keys: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``[P, 2]`` (lowest id of the bucket, member) for records with equal key and values."""
    if len(keys) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    order = np.lexsort((ids, keys))  # by key, then id: each bucket's first record has its lowest id
    return star_pairs(keys[order], rows[order], ids[order])


class BucketStep(PipelineStep):
    """Task ``rank`` = band ``rank // parts``, key range ``rank % parts``: reads that slice of every
    shard's sorted band file (memory-mapped keys, binary search) and writes its pairs."""

    name = "minhash buckets"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, shards: int, bands: int, parts: int) -> None:
        super().__init__()
        self.work_dir, self.shards, self.bands, self.parts = work_dir, shards, bands, parts

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != self.bands * self.parts:
            raise ValueError(f"{self.bands} bands x {self.parts} parts need as many tasks, got {world_size}")
        band, part = divmod(rank, self.parts)
        lo, hi = key_range(part, self.parts)
        keys, rows, ids = [], [], []
        for shard in range(self.shards):
            k = np.load(band_file(self.work_dir, shard, band, "keys"), mmap_mode="r")
            a = int(np.searchsorted(k, np.uint64(lo), side="left"))
            b = len(k) if hi is None else int(np.searchsorted(k, np.uint64(hi), side="left"))
            if b <= a:
                continue
            keys.append(np.array(k[a:b]))
            rows.append(np.array(np.load(band_file(self.work_dir, shard, band, "rows"), mmap_mode="r")[a:b]))
            ids.append(np.array(np.load(band_file(self.work_dir, shard, band, "ids"), mmap_mode="r")[a:b]))
        with self.track_time(unit="task"):
            if keys:
                pairs = bucket_pairs(np.concatenate(keys), np.concatenate(rows), np.concatenate(ids))
            else:
                pairs = np.zeros((0, 2), dtype=np.int64)
        self.stat_update("records", value=sum(len(k) for k in keys))
        self.stat_update("pairs", value=len(pairs))
        save_atomic(pairs_file(self.work_dir, band, part), pairs)
        yield from ()
