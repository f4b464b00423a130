"""Exact-key dedup passes (normalized URL, whitespace-normalized content) as engine stages.

A pass has two stages, like MinHash's signatures and buckets:

1. :class:`KeySignatureStep` (one task per shard): a 128-bit key per document (xxh3-128 of the
   normalized URL or of the normalized text), written as the shard's arrays ``hi``, ``lo``, ``ids``
   sorted by ``(hi, lo, id)``.
2. :class:`KeyFindStep` (``parts`` tasks): one range of ``hi`` across every shard (a slice found by
   binary search in each shard's memory-mapped ``hi``); in each group of equal keys the lowest id
   (the earliest copy) is kept and the others are removed. Written as the part's ``ids`` (removed,
   sorted) and ``kept`` arrays.

:func:`removed_by` gives one shard's removals of a pass by reading, in every part, only the slice
of ids that belong to the shard, so a later pass (or the final filter) skips them without loading
the removals of the whole corpus.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xxhash
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.exact import normalize_whitespace
from mimo.data.dedup.stages.buckets import key_range
from mimo.data.dedup.stages.layout import ID_SHIFT, index_in_shard, save_atomic
from mimo.data.dedup.urls import normalize_url

KINDS = ("url", "exact")


def document_key(kind: str, text: str) -> tuple[int, int]:
    """``(hi, lo)`` 64-bit halves of the xxh3-128 of the normalized URL or text."""
    norm = normalize_url(text) if kind == "url" else normalize_whitespace(text)
    digest = xxhash.xxh3_128_intdigest(norm.encode("utf-8", "surrogatepass"))
    return digest >> 64, digest & 0xFFFFFFFFFFFFFFFF


def keys_dir(work: str | Path, kind: str, shard: int) -> Path:
    return Path(work) / kind / "keys" / f"s{shard:06d}"


def found_file(work: str | Path, kind: str, part: int, what: str) -> Path:
    """``ids`` (removed, sorted) or ``kept`` of one find task."""
    return Path(work) / kind / "found" / f"p{part:05d}.{what}.npy"


def parts_of(work: str | Path, kind: str) -> int:
    """How many find tasks the pass had (written by the pipeline before the find stage)."""
    return int(json.loads((Path(work) / kind / "parts.json").read_text())["parts"])


def removed_by(work: str | Path, kind: str, shard: int) -> dict[int, int]:
    """Index in ``shard`` -> id kept instead, for the documents the pass removed."""
    lo, hi = np.int64(shard) << np.int64(ID_SHIFT), np.int64(shard + 1) << np.int64(ID_SHIFT)
    out: dict[int, int] = {}
    for part in range(parts_of(work, kind)):
        ids = np.load(found_file(work, kind, part, "ids"), mmap_mode="r")
        a, b = int(np.searchsorted(ids, lo)), int(np.searchsorted(ids, hi))
        if b > a:
            kept = np.load(found_file(work, kind, part, "kept"), mmap_mode="r")[a:b]
            out.update(zip(index_in_shard(np.array(ids[a:b])).tolist(), np.array(kept).tolist()))
    return out


class SkipRemoved(PipelineStep):
    """Drops the task's documents that earlier passes (``kinds``) removed."""

    name = "skip removed"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, kinds: Sequence[str]) -> None:
        super().__init__()
        self.work_dir, self.kinds = work_dir, list(kinds)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        removed: set[int] = set()
        for kind in self.kinds:
            removed.update(removed_by(self.work_dir, kind, rank))
        mask = (1 << ID_SHIFT) - 1
        for doc in data or ():
            if (doc.metadata["dedup_id"] & mask) in removed:
                self.stat_update("skipped")
                continue
            yield doc


class KeySignatureStep(PipelineStep):
    """Writes the sorted keys of the task's documents (``kind``: ``url`` reads the document text as
    the URL); the shard's directory appears only when complete."""

    name = "key signatures"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, kind: str) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.work_dir, self.kind = work_dir, kind

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        his, los, ids = [], [], []
        for doc in data or ():
            with self.track_time():
                hi, lo = document_key(self.kind, doc.text)
            his.append(hi)
            los.append(lo)
            ids.append(doc.metadata["dedup_id"])
        hi_a, lo_a = np.array(his, dtype=np.uint64), np.array(los, dtype=np.uint64)
        id_a = np.array(ids, dtype=np.int64)
        order = np.lexsort((id_a, lo_a, hi_a))
        final = keys_dir(self.work_dir, self.kind, rank)
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for what, arr in (("hi", hi_a[order]), ("lo", lo_a[order]), ("ids", id_a[order])):
            np.save(tmp / f"{what}.npy", arr)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        self.stat_update("documents", value=len(id_a))
        yield from ()


def first_of_groups(hi: np.ndarray, lo: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(removed ids sorted, kept id of each)``: in each group of equal ``(hi, lo)`` the lowest id
    is kept."""
    if len(ids) < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    order = np.lexsort((ids, lo, hi))
    hi, lo, ids = hi[order], lo[order], ids[order]
    starts = np.ones(len(ids), dtype=bool)
    starts[1:] = (hi[1:] != hi[:-1]) | (lo[1:] != lo[:-1])
    group_first = ids[np.maximum.accumulate(np.where(starts, np.arange(len(ids)), 0))]
    removed, kept = ids[~starts], group_first[~starts]
    order = np.argsort(removed, kind="stable")
    return removed[order], kept[order]


class KeyFindStep(PipelineStep):
    """Task ``rank``: keys with ``hi`` in range ``rank`` of ``parts``, read from every shard."""

    name = "key find"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, kind: str, shards: int, parts: int) -> None:
        super().__init__()
        self.work_dir, self.kind, self.shards, self.parts = work_dir, kind, shards, parts

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != self.parts:
            raise ValueError(f"{self.parts} key ranges need as many tasks, got {world_size}")
        lo_key, hi_key = key_range(rank, self.parts)
        chunks: dict[str, list[np.ndarray]] = {"hi": [], "lo": [], "ids": []}
        for shard in range(self.shards):
            d = keys_dir(self.work_dir, self.kind, shard)
            hi = np.load(d / "hi.npy", mmap_mode="r")
            a = int(np.searchsorted(hi, np.uint64(lo_key), side="left"))
            b = len(hi) if hi_key is None else int(np.searchsorted(hi, np.uint64(hi_key), side="left"))
            if b > a:
                for what in chunks:
                    chunks[what].append(np.array(np.load(d / f"{what}.npy", mmap_mode="r")[a:b]))
        with self.track_time(unit="task"):
            if chunks["ids"]:
                removed, kept = first_of_groups(*(np.concatenate(chunks[w]) for w in ("hi", "lo", "ids")))
            else:
                removed, kept = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.stat_update("records", value=sum(len(x) for x in chunks["ids"]))
        self.stat_update("removed", value=len(removed))
        save_atomic(found_file(self.work_dir, self.kind, rank, "kept"), kept)
        save_atomic(found_file(self.work_dir, self.kind, rank, "ids"), removed)
        yield from ()
