"""Stage 4: drop the removed documents of the task's shard."""

from __future__ import annotations

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from mimo.data.dedup.stages.layout import index_in_shard, removed_file


class RemovedFilter(PipelineStep):
    """Passes on the documents of shard ``rank`` that the cluster stage did not remove; a removed
    document's ``metadata["duplicate_of"]`` names the id its cluster keeps (``keep_removed``)."""

    name = "minhash filter"
    type = "🫂 - DEDUP"

    def __init__(self, work_dir: str, keep_removed: bool = False) -> None:
        super().__init__()
        self.work_dir, self.keep_removed = work_dir, keep_removed

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        removed = np.load(removed_file(self.work_dir, rank))
        kept_by = dict(zip(removed[:, 0].tolist(), removed[:, 1].tolist()))
        for doc in data or ():
            of = kept_by.get(int(index_in_shard(np.int64(doc.metadata["dedup_id"]))))
            if of is None:
                self.stat_update("kept")
                yield doc
            else:
                self.stat_update("removed")
                if self.keep_removed:
                    doc.metadata["duplicate_of"] = of
                    yield doc
