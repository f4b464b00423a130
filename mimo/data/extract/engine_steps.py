"""Extraction as data-engine steps: a crawl file's records split over tasks, each task extracting its
slice in a guarded worker process and writing its outcomes as one parquet part.

Task ``r`` of ``W`` takes the records ``[r * n // W, (r + 1) * n // W)`` of ``records.parquet`` (the
crawl asset's output), so the parts concatenated in rank order are the records in file order, and
the outcomes are those of the in-process pool (extraction is a pure function of the record).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.extract.config import ExtractConfig, ExtractOutcome

OUTCOME_FIELDS = [f.name for f in dataclasses.fields(ExtractOutcome)]
OUTCOME_SCHEMA = pa.schema([
    ("index", pa.int64()), ("text", pa.string()), ("skip_reason", pa.string()), ("title", pa.string()),
    ("language", pa.string()), ("language_score", pa.float64()), ("n_formulas", pa.int64()),
    ("n_code_blocks", pa.int64()), ("page_type", pa.string()), ("quality", pa.float64()),
    ("encoding", pa.string()), ("extraction_ms", pa.float64()),
])


def task_slice(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[lo, hi)`` of the records task ``rank`` of ``world_size`` extracts."""
    return rank * n // world_size, (rank + 1) * n // world_size


class CrawlRecordSlices(PipelineStep):
    """Reads task ``rank``'s slice of ``records.parquet`` (payload, url, charset) as documents."""

    name = "crawl record slices"
    type = "📖 - READER"

    def __init__(self, records_path: str, batch_rows: int = 256) -> None:
        super().__init__()
        self.records_path, self.batch_rows = records_path, batch_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        f = pq.ParquetFile(self.records_path)
        lo, hi = task_slice(f.metadata.num_rows, rank, world_size)
        row = 0
        for batch in f.iter_batches(self.batch_rows, columns=["payload", "url", "http_charset"]):
            if row + batch.num_rows <= lo:
                row += batch.num_rows
                continue
            for rec in batch.to_pylist():
                if lo <= row < hi:
                    self.stat_update("records")
                    yield Document(text="", id=str(row), metadata={"index": row, **rec})
                row += 1
                if row >= hi:
                    return


class ExtractStep(PipelineStep):
    """Extracts each record in a guarded worker (time and memory limits of ``config``) and writes
    the task's outcomes to ``<output_dir>/part-<rank>.parquet`` (renamed into place when complete)."""

    name = "extract"
    type = "✂️ - EXTRACT"

    def __init__(self, output_dir: str, config: ExtractConfig) -> None:
        super().__init__()
        self.output_dir, self.config = output_dir, config

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from mimo.data.extract.guard import GuardedExtractor

        rows: dict[str, list] = {name: [] for name in OUTCOME_SCHEMA.names}
        with GuardedExtractor(self.config) as extractor:
            for doc in data or ():
                meta = doc.metadata
                with self.track_time():
                    out = extractor.extract(meta["payload"], meta["url"], meta["http_charset"])
                self.stat_update("skipped" if out.skip_reason else "extracted")
                rows["index"].append(meta["index"])
                for name in OUTCOME_FIELDS:
                    rows[name].append(getattr(out, name))
        path = Path(self.output_dir) / f"part-{rank:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        pq.write_table(pa.table(rows, schema=OUTCOME_SCHEMA), tmp)
        os.replace(tmp, path)
        yield from ()


def extract_on_engine(records_path: str, work_dir: str | Path, config: ExtractConfig, tasks: int, engine=None,
                      progress: Callable[[str, int, int], None] | None = None) -> list[ExtractOutcome]:
    """Every record's outcome, in file order, extracted by ``tasks`` engine tasks."""
    from mimo.data.engine import run_stage

    work = Path(work_dir)
    run_stage("extract", [CrawlRecordSlices(records_path), ExtractStep(str(work / "parts"), config)], tasks,
              work / "logs", engine, progress)
    return read_outcomes([work / "parts" / f"part-{r:05d}.parquet" for r in range(tasks)])


def read_outcomes(parts: Sequence[Path]) -> list[ExtractOutcome]:
    """The outcomes of the parts, concatenated in order."""
    out = []
    for part in parts:
        for row in pq.read_table(part).to_pylist():
            row.pop("index")
            out.append(ExtractOutcome(**row))
    return out
