"""Stage 1: MinHash signatures of one shard, written as per-band files sorted by band key."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.minhash import MinHashConfig, band_keys, empty_mask, minhash_signatures
from mimo.data.dedup.stages.layout import band_dir


def _batches(data: DocumentsPipeline, size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for doc in data or ():
        batch.append(doc)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class SignatureStep(PipelineStep):
    """Signatures of the task's documents (in batches, vectorized), then for every band the
    records of the non-empty documents sorted by ``(key, id)``; the shard's directory appears
    only when complete. Documents pass through unchanged."""

    name = "minhash signatures"
    type = "🫂 - DEDUP"

    def __init__(self, output_dir: str, config: MinHashConfig = MinHashConfig(), batch_docs: int = 4096) -> None:
        super().__init__()
        self.output_dir, self.config, self.batch_docs = output_dir, config, batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        sigs, ids = [], []
        for batch in _batches(data, self.batch_docs):
            with self.track_time(unit="batch"):
                sigs.append(minhash_signatures([d.text for d in batch], self.config))
                ids.append(np.fromiter((d.metadata["dedup_id"] for d in batch), dtype=np.int64, count=len(batch)))
            yield from batch
        sig = np.concatenate(sigs) if sigs else np.zeros((0, self.config.num_perm), dtype=np.uint32)
        idv = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        self.stat_update("empty", value=int(empty_mask(sig).sum()) if len(sig) else 0)
        self._write(rank, sig, idv)

    def _write(self, shard: int, sig: np.ndarray, ids: np.ndarray) -> None:
        final = band_dir(self.output_dir, shard)
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        keep = ~empty_mask(sig) if len(sig) else np.zeros(0, dtype=bool)
        sig, ids = sig[keep], ids[keep]
        r = self.config.rows_per_band
        for band in range(self.config.num_bands):
            rows = sig[:, band * r:(band + 1) * r]
            keys = band_keys(rows)
            order = np.lexsort((ids, keys))
            for what, arr in (("keys", keys[order]), ("rows", np.ascontiguousarray(rows[order])), ("ids", ids[order])):
                np.save(tmp / f"b{band:03d}.{what}.npy", arr)
        (tmp / "meta.json").write_text(json.dumps({"shard": shard, "records": int(len(ids)),
                                                   "documents": int(len(keep))}))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
