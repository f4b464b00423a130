"""Classifier tagging as data-engine steps: the pages split into row slices, each task loading the
trained tagger and writing its slice's tag columns (:func:`mimo.data.tagging.columns.tag_columns`)
as one parquet part. The parts in rank order are the pages in order, and the values are those of
tagging in one process (the model is deterministic per document)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.engine.slices import ParquetRowSlices, read_parts, write_part


class TagStep(PipelineStep):
    """Tags a task's documents with the classifier saved in ``model_dir`` (``threads`` torch
    threads per task) and writes ``index`` plus the tag columns to ``<output_dir>/part-<rank>``."""

    name = "tag"
    type = "🏷 - TAGGER"

    def __init__(self, model_dir: str, output_dir: str, threads: int = 1) -> None:
        super().__init__()
        self.model_dir, self.output_dir, self.threads = model_dir, output_dir, threads

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        import torch

        from mimo.data.tagging.classifier import TaggerModel
        from mimo.data.tagging.columns import tag_columns, tag_schema
        from mimo.data.tagging.tagger import ClassifierTagger

        torch.set_num_threads(self.threads)
        docs = list(data or ())
        texts = [d.metadata["text"] for d in docs]
        with self.track_time():
            tags = ClassifierTagger(TaggerModel.load(self.model_dir)).tag(texts)
            columns = tag_columns(texts, tags)
        self.stat_update("tagged", value=len(texts))
        schema = pa.schema([("index", pa.int64()), *tag_schema()])
        write_part(self.output_dir, rank, pa.table({"index": [d.metadata["index"] for d in docs], **columns}, schema=schema))
        yield from ()


def tag_on_engine(pages_path: str, model_dir: str, work_dir: str | Path, tasks: int, engine=None,
                  progress: Callable[[str, int, int], None] | None = None) -> dict[str, list]:
    """The tag columns of every page of ``pages_path``, in order, computed by ``tasks`` engine tasks."""
    from mimo.data.engine import run_stage

    work = Path(work_dir)
    steps = [ParquetRowSlices(pages_path, ["text"]), TagStep(model_dir, str(work / "parts"))]
    run_stage("tag", steps, tasks, work / "logs", engine, progress)
    table = read_parts(work / "parts", tasks)
    return {name: table[name].to_pylist() for name in table.column_names if name != "index"}
