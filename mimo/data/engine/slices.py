"""Row slices of one parquet file as engine tasks, and their outputs as parquet parts.

Task ``r`` of ``W`` reads rows ``[r * n // W, (r + 1) * n // W)``, so the parts concatenated in rank
order line up with the input's rows. A part is written under a temporary name and renamed into
place, so a killed task never leaves a part that is read downstream.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


def task_slice(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[lo, hi)`` of the rows task ``rank`` of ``world_size`` reads."""
    return rank * n // world_size, (rank + 1) * n // world_size


class ParquetRowSlices(PipelineStep):
    """Reads task ``rank``'s slice of a parquet file; each row is a document whose metadata holds
    ``index`` (the row number) and the requested ``columns``. ``interleaved``: task ``rank`` reads
    rows ``rank, rank + W, ...`` instead (balances tasks whose rows cost very different times;
    :func:`read_parts` with ``order_by="index"`` restores the input order)."""

    name = "parquet row slices"
    type = "📖 - READER"

    def __init__(self, path: str, columns: Sequence[str], batch_rows: int = 256, interleaved: bool = False) -> None:
        super().__init__()
        self.path, self.columns, self.batch_rows, self.interleaved = path, list(columns), batch_rows, interleaved

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        f = pq.ParquetFile(self.path)
        if self.interleaved:
            yield from self._strided(f, rank, world_size)
            return
        lo, hi = task_slice(f.metadata.num_rows, rank, world_size)
        row = 0
        for batch in f.iter_batches(self.batch_rows, columns=self.columns):
            if row + batch.num_rows <= lo:
                row += batch.num_rows
                continue
            for rec in batch.to_pylist():
                if lo <= row < hi:
                    self.stat_update("rows")
                    yield Document(text="", id=str(row), metadata={"index": row, **rec})
                row += 1
                if row >= hi:
                    return

    def _strided(self, f: pq.ParquetFile, rank: int, world_size: int) -> DocumentsPipeline:
        row = 0
        for batch in f.iter_batches(self.batch_rows, columns=self.columns):
            for rec in batch.to_pylist():
                if row % world_size == rank:
                    self.stat_update("rows")
                    yield Document(text="", id=str(row), metadata={"index": row, **rec})
                row += 1


def part_path(output_dir: str | Path, rank: int) -> Path:
    return Path(output_dir) / f"part-{rank:05d}.parquet"


def write_part(output_dir: str | Path, rank: int, table: pa.Table) -> Path:
    """Write task ``rank``'s output atomically (temporary name, then rename)."""
    path = part_path(output_dir, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def read_parts(output_dir: str | Path, tasks: int, order_by: str | None = None) -> pa.Table:
    """The parts of ``tasks`` tasks concatenated in rank order, or sorted by the column
    ``order_by`` (a missing part is an error)."""
    paths = [part_path(output_dir, r) for r in range(tasks)]
    missing = [p.name for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{output_dir}: parts missing after the stage completed: {missing}")
    table = pa.concat_tables([pq.read_table(p) for p in paths])
    return table.sort_by(order_by) if order_by else table
