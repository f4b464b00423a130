"""Last stage of the full dedup: each shard's kept rows (every column), their token count, and
the shard's removals."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.stages.keys import removed_by
from mimo.data.dedup.stages.layout import removed_file
from mimo.data.tagging.features import approx_tokens

REMOVAL_SCHEMA = pa.schema([("row", pa.int64()), ("stage", pa.string()), ("kept_id", pa.int64())])


def kept_file(work: str | Path, shard: int) -> Path:
    return Path(work) / "out" / f"kept-s{shard:06d}.parquet"


def removals_file(work: str | Path, shard: int) -> Path:
    return Path(work) / "out" / f"removed-s{shard:06d}.parquet"


def kept_tokens_file(work: str | Path, shard: int) -> Path:
    """``{"tokens": ...}``: approximate tokens of the shard's kept texts (for the catalog)."""
    return Path(work) / "out" / f"kept-s{shard:06d}.tokens.json"


def shard_removals(work: str | Path, shard: int, kinds: Sequence[str]) -> dict[int, tuple[str, int]]:
    """Row -> (stage, id kept instead) for every removal of ``shard`` (exact-key passes, then MinHash)."""
    out: dict[int, tuple[str, int]] = {}
    for kind in kinds:
        out.update({row: (kind, kept) for row, kept in removed_by(work, kind, shard).items()})
    mh = np.load(removed_file(work, shard))
    out.update({int(r): ("minhash", int(k)) for r, k in mh.tolist()})
    return out


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class ShardWriter(PipelineStep):
    """Task ``rank`` streams ``paths[rank]`` in row batches and writes the rows no pass removed
    (``kept-s<rank>.parquet``, same schema), their token count, and the removed rows'
    ``(row, stage, kept_id)``."""

    name = "dedup writer"
    type = "💽 - WRITER"

    def __init__(self, paths: Sequence[str], work_dir: str, kinds: Sequence[str], batch_rows: int = 8192) -> None:
        super().__init__()
        self.paths, self.work_dir, self.kinds, self.batch_rows = list(paths), work_dir, list(kinds), batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        removals = shard_removals(self.work_dir, rank, self.kinds)
        source = pq.ParquetFile(self.paths[rank])
        final = kept_file(self.work_dir, rank)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f"{final.name}.tmp{os.getpid()}")
        row, tokens = 0, 0
        with pq.ParquetWriter(tmp, source.schema_arrow) as writer:
            for batch in source.iter_batches(self.batch_rows):
                keep = np.array([row + i not in removals for i in range(batch.num_rows)], dtype=bool)
                kept = pa.Table.from_batches([batch]).filter(pa.array(keep))
                writer.write_table(kept)
                tokens += sum(approx_tokens(t or "") for t in kept["text"].to_pylist())
                row += batch.num_rows
        os.replace(tmp, final)
        count = kept_tokens_file(self.work_dir, rank)
        count_tmp = count.with_name(f"{count.name}.tmp{os.getpid()}")
        count_tmp.write_text(json.dumps({"tokens": tokens}))
        os.replace(count_tmp, count)
        rows = sorted(removals)
        _write_atomic(pa.table({"row": rows, "stage": [removals[r][0] for r in rows],
                                "kept_id": [removals[r][1] for r in rows]}, schema=REMOVAL_SCHEMA),
                      removals_file(self.work_dir, rank))
        self.stat_update("kept", value=row - len(rows))
        self.stat_update("removed", value=len(rows))
        yield from ()
