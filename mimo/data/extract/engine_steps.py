"""Extraction as data-engine steps: a crawl file's records split over tasks, each task extracting its
slice in a guarded worker process and writing its outcomes as one parquet part.

Task ``r`` of ``W`` takes the records ``r, r + W, r + 2W, ...`` of ``records.parquet`` (the crawl
asset's output; :mod:`mimo.data.engine.slices`), as the in-process pool's lanes do: pages cost very
different times, and interleaving balances the tasks. The parts sorted by record index are the
records in file order, and the outcomes are those of the pool (extraction is a pure function of
the record).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.engine.slices import ParquetRowSlices, read_parts, write_part
from mimo.data.extract.config import ExtractConfig, ExtractOutcome

OUTCOME_FIELDS = [f.name for f in dataclasses.fields(ExtractOutcome)]
OUTCOME_SCHEMA = pa.schema([
    ("index", pa.int64()), ("text", pa.string()), ("skip_reason", pa.string()), ("title", pa.string()),
    ("language", pa.string()), ("language_score", pa.float64()), ("n_formulas", pa.int64()),
    ("n_code_blocks", pa.int64()), ("page_type", pa.string()), ("quality", pa.float64()),
    ("encoding", pa.string()), ("extraction_ms", pa.float64()),
])


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
        write_part(self.output_dir, rank, pa.table(rows, schema=OUTCOME_SCHEMA))
        yield from ()


def extract_on_engine(records_path: str, work_dir: str | Path, config: ExtractConfig, tasks: int, engine=None,
                      progress: Callable[[str, int, int], None] | None = None) -> list[ExtractOutcome]:
    """Every record's outcome, in file order, extracted by ``tasks`` engine tasks."""
    from mimo.data.engine import run_stage

    work = Path(work_dir)
    reader = ParquetRowSlices(records_path, ["payload", "url", "http_charset"], interleaved=True)
    run_stage("extract", [reader, ExtractStep(str(work / "parts"), config)], tasks, work / "logs", engine, progress)
    out = []
    for row in read_parts(work / "parts", tasks, order_by="index").to_pylist():
        row.pop("index")
        out.append(ExtractOutcome(**row))
    return out
