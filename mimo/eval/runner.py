"""A resumable evaluation run: problems in chunks, each chunk's per-sample rows saved atomically to a
work directory as it finishes, so an interrupted or partly failed evaluation resumes without
redoing finished samples.

A rerun reuses every chunk file whose rows are complete; in a chunk with failed generations
(timeouts, server errors: status ``generation_error``) only the affected problems are generated
again. Failed samples are masked (kept in the rows, counted, left out of the metrics); when more
than ``max_error_fraction`` of the samples failed, :class:`EvaluationIncomplete` says so after the
finished chunks are saved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mimo.eval.evaluate import MIMO_EVAL_SAMPLING, SAMPLE_SCHEMA, evaluate
from mimo.eval.metrics import summarize
from mimo.generate.base import Generator, SamplingParams, TokenUsage
from mimo.problems.records import Problem

GENERATION_ERROR = "generation_error"


class EvaluationIncomplete(RuntimeError):
    """Too many samples failed generation; finished chunks are saved and a rerun resumes."""


@dataclass(frozen=True)
class EvalSettings:
    """How one (checkpoint, benchmark) evaluation samples and scores."""

    n: int = 1
    sampling: SamplingParams = MIMO_EVAL_SAMPLING
    code_scheme: str = "vanilla"
    reward_workers: int = 2
    chunk_problems: int = 16
    max_error_fraction: float = 0.2
    ks: tuple[int, ...] = (1,)
    allow_weak_isolation: bool = False


@dataclass
class EvalRun:
    """Rows (``SAMPLE_SCHEMA``), metrics over the unmasked rows, and how the run went."""

    rows: list[dict]
    metrics: dict
    usage: TokenUsage
    chunks: int = 0
    chunks_resumed: int = 0
    samples_resumed: int = 0
    samples_generated: int = 0
    generation_errors: int = 0
    seconds: float = 0.0
    first_error: str | None = None
    timings: dict = field(default_factory=dict)

    @property
    def samples_per_s(self) -> float:
        return self.samples_generated / self.seconds if self.seconds > 0 else 0.0


def _write_chunk(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA), tmp)
    os.replace(tmp, path)


def _read_chunk(path: Path, chunk: Sequence[Problem], n: int) -> list[dict] | None:
    """The saved rows of a chunk when they match its problems and ``n``, else None (redo it)."""
    if not path.exists():
        return None
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowInvalid):
        return None
    expected = {(p.id, i) for p in chunk for i in range(n)}
    if {(r["problem_id"], r["sample_index"]) for r in rows} != expected or len(rows) != len(expected):
        return None
    return rows


def run_evaluation(problems: Sequence[Problem], make_generator: Callable[[], Generator], settings: EvalSettings,
                   work_dir: str | Path, *, benchmark: str, log: Callable[[str], None] | None = None,
                   show_progress: bool = True) -> EvalRun:
    """Evaluate ``problems`` chunk by chunk into ``work_dir`` (resuming what is there).

    ``make_generator`` is called at most once, and only when some sample still needs generating, so
    a finished evaluation never loads the model again.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    chunks = [list(problems[i:i + settings.chunk_problems])
              for i in range(0, len(problems), settings.chunk_problems)]
    run = EvalRun(rows=[], metrics={}, usage=TokenUsage(), chunks=len(chunks))
    generator: Generator | None = None
    sampling = replace(settings.sampling, n=1)
    try:
        for ci, chunk in enumerate(chunks):
            path = work / f"chunk-{ci:05d}.parquet"
            saved = _read_chunk(path, chunk, settings.n)
            failed_ids = {r["problem_id"] for r in saved or [] if r["status"] == GENERATION_ERROR}
            if saved is not None and not failed_ids:
                run.chunks_resumed += 1
                run.samples_resumed += len(saved)
                run.rows.extend(saved)
                continue
            todo = chunk if saved is None else [p for p in chunk if p.id in failed_ids]
            kept = [r for r in saved or [] if r["problem_id"] not in failed_ids]
            run.samples_resumed += len(kept)
            if generator is None:
                generator = make_generator()
            rows, usage = evaluate(todo, generator, n=settings.n, sampling=sampling, benchmark=benchmark,
                                   code_scheme=settings.code_scheme, workers=settings.reward_workers,
                                   allow_weak_isolation=settings.allow_weak_isolation, show_progress=show_progress)
            run.usage.merge(usage)
            run.samples_generated += len(rows)
            order = {p.id: i for i, p in enumerate(chunk)}
            merged = sorted(kept + rows, key=lambda r: (order[r["problem_id"]], r["sample_index"]))
            _write_chunk(path, merged)
            run.rows.extend(merged)
            if log:
                log(f"{benchmark}: chunk {ci + 1}/{len(chunks)} done ({len(rows)} samples generated, "
                    f"{len(kept)} resumed)")
    finally:
        if generator is not None:
            generator.close()
    run.seconds = time.perf_counter() - start
    errors = [r for r in run.rows if r["status"] == GENERATION_ERROR]
    run.generation_errors = len(errors)
    run.first_error = errors[0].get("error") if errors else None
    total = len(run.rows)
    if total and run.generation_errors / total > settings.max_error_fraction:
        raise EvaluationIncomplete(
            f"{benchmark}: {run.generation_errors} of {total} samples failed generation (more than "
            f"{settings.max_error_fraction:.0%}; first error: {run.first_error}). Finished samples are saved in "
            f"{work}; rerunning resumes and regenerates only the failed ones.")
    scored = [r for r in run.rows if r["status"] != GENERATION_ERROR]
    run.metrics = summarize(scored, ks=settings.ks)
    run.metrics["samples"] = len(scored)
    run.metrics["masked_generation_errors"] = run.generation_errors
    return run
