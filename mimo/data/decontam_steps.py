"""Benchmark decontamination as data-engine steps: each task builds the n-gram index of the
evaluation problems (:class:`mimo.data.decontam.ContaminationIndex`) and writes, for its row slice
of the documents, the benchmark items each document shares an n-gram with. The parts in rank order
are the documents in order; the hits are those of the in-process check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.decontam import NGRAM, ContaminationIndex
from mimo.data.engine.slices import ParquetRowSlices, read_parts, write_part

HITS_SCHEMA = pa.schema([("index", pa.int64()), ("hits", pa.list_(pa.string()))])


class DecontamStep(PipelineStep):
    """Finds each document's n-gram hits in the evaluation problems ``benchmarks`` (name -> texts)."""

    name = "decontaminate"
    type = "🔻 - FILTER"

    def __init__(self, benchmarks: dict[str, Sequence[str]], output_dir: str, n: int = NGRAM) -> None:
        super().__init__()
        self.benchmarks, self.output_dir, self.n = {k: list(v) for k, v in benchmarks.items()}, output_dir, n

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        index = ContaminationIndex.build(self.benchmarks, n=self.n)
        rows: dict[str, list] = {"index": [], "hits": []}
        for doc in data or ():
            with self.track_time():
                hits = index.hits(doc.metadata["text"])
            self.stat_update("contaminated" if hits else "clean")
            rows["index"].append(doc.metadata["index"])
            rows["hits"].append(hits)
        write_part(self.output_dir, rank, pa.table(rows, schema=HITS_SCHEMA))
        yield from ()


def hits_on_engine(docs_path: str, benchmarks: dict[str, Sequence[str]], work_dir: str | Path, tasks: int,
                   engine=None, progress: Callable[[str, int, int], None] | None = None,
                   n: int = NGRAM) -> list[list[str]]:
    """Each document's benchmark hits (``name:index``), in the order of ``docs_path``'s rows."""
    from mimo.data.engine import run_stage

    work = Path(work_dir)
    steps = [ParquetRowSlices(docs_path, ["text"]), DecontamStep(benchmarks, str(work / "parts"), n)]
    run_stage("decontaminate", steps, tasks, work / "logs", engine, progress)
    return read_parts(work / "parts", tasks)["hits"].to_pylist()
