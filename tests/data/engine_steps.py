"""Pipeline steps that misbehave on purpose, for the data-engine tests (imported by task workers)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


class CountRuns(PipelineStep):
    """Appends the rank to ``<dir>/runs`` each time a task runs; yields one document per task."""

    name = "count runs"
    type = "test"

    def __init__(self, directory: str) -> None:
        super().__init__()
        self.directory = directory

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with open(Path(self.directory) / "runs", "a") as f:
            f.write(f"{rank}\n")
        yield Document(text=str(rank), id=str(rank))


class FailOnce(PipelineStep):
    """On rank ``rank``: the first attempt raises (``how="raise"``) or kills its own process
    (``how="kill"``) or sleeps ten minutes (``how="hang"``); later attempts pass. ``always``: every attempt raises."""

    name = "fail once"
    type = "test"

    def __init__(self, directory: str, rank: int, how: str = "raise", always: bool = False) -> None:
        super().__init__()
        self.directory, self.rank, self.how, self.always = directory, rank, how, always

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        docs = list(data)  # the steps before this one ran
        marker = Path(self.directory) / f"failed-{rank}"
        if rank == self.rank and (self.always or not marker.exists()):
            marker.touch()
            if self.how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.how == "hang":
                time.sleep(600)
            raise RuntimeError(f"planted failure on rank {rank}")
        yield from docs
