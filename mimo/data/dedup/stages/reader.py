"""Read one parquet shard per task as datatrove documents with their dedup ids."""

from __future__ import annotations

from collections.abc import Sequence

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.stages.layout import ID_SHIFT


class ParquetTextShards(PipelineStep):
    """Task ``rank`` reads ``paths[rank]`` (column ``text_column``, in row batches); each document
    carries ``metadata["dedup_id"] = rank << 32 | row``."""

    name = "parquet text shards"
    type = "📖 - READER"

    def __init__(self, paths: Sequence[str], text_column: str = "text", batch_rows: int = 8192) -> None:
        super().__init__()
        self.paths, self.text_column, self.batch_rows = list(paths), text_column, batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import pyarrow.parquet as pq

        if world_size != len(self.paths):
            raise ValueError(f"{len(self.paths)} shards need as many tasks, got {world_size}")
        row = 0
        for batch in pq.ParquetFile(self.paths[rank]).iter_batches(self.batch_rows, columns=[self.text_column]):
            for text in batch.column(0).to_pylist():
                self.stat_update("documents")
                yield Document(text=text or "", id=f"{rank}/{row}", metadata={"dedup_id": (rank << ID_SHIFT) | row})
                row += 1
