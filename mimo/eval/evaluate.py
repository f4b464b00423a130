"""Evaluate one model on one benchmark: ``n`` samples per problem through the generator interface,
scored by the rule-based rewards, one row per sample (the per-sample parquet), then metrics.

MiMo's settings: temperature 0.6, top-p 0.95; repeats per benchmark (32 for AIME, 8 for
LiveCodeBench/GPQA/IFEval, 1 for MATH-500) are the caller's ``n``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pyarrow as pa

from mimo.eval.metrics import extract_boxed
from mimo.generate.base import (
    GenerationRequest,
    Generator,
    SamplingParams,
    TokenUsage,
    generate_all,
)
from mimo.problems.records import Problem

MIMO_EVAL_SAMPLING = SamplingParams(temperature=0.6, top_p=0.95, max_tokens=32_768)

SAMPLE_SCHEMA = pa.schema([
    ("benchmark", pa.string()), ("problem_id", pa.string()), ("domain", pa.string()), ("sample_index", pa.int64()),
    ("response", pa.string()), ("answer", pa.string()), ("reward", pa.float64()), ("status", pa.string()),
    ("finish_reason", pa.string()), ("prompt_tokens", pa.int64()), ("completion_tokens", pa.int64()),
    ("error", pa.string()),
])
LATENCY_KEY = "latency_s"  # in the row dicts of a run for metadata; not a column (timings are not content)


def evaluate(problems: Sequence[Problem], generator: Generator, *, n: int = 1,
             sampling: SamplingParams = MIMO_EVAL_SAMPLING, benchmark: str | None = None,
             code_scheme: str = "vanilla", workers: int = 2, allow_weak_isolation: bool = False,
             show_progress: bool = True, log: Callable[[str], None] | None = None,
             ) -> tuple[list[dict], TokenUsage]:
    """Per-sample rows (``SAMPLE_SCHEMA`` plus ``latency_s``, which is not written) for ``n`` samples of
    every problem, and token usage. A failed request gives ``n`` rows with status ``generation_error``
    and reward 0 (counted, kept)."""
    from dataclasses import replace

    from mimo.synth.prompts import rollout_messages
    from mimo.verifiers.code import score_code
    from mimo.verifiers.math import score_math

    params = replace(sampling, n=n)
    requests = [GenerationRequest(rollout_messages(p), params, request_id=p.id) for p in problems]
    results, usage = generate_all(generator, requests, desc=f"eval {benchmark or ''}".strip(),
                                  show_progress=show_progress, log=log)
    rows: list[dict] = []
    for p, res in zip(problems, results):
        comps = res.completions if res.error is None else []
        for i in range(n):
            c = comps[i] if i < len(comps) else None
            text = c.text if c is not None else ""
            rows.append({"benchmark": benchmark or p.source, "problem_id": p.id, "domain": p.domain,
                         "sample_index": i, "response": text,
                         "answer": extract_boxed(text) if p.domain == "math" else None,
                         "reward": 0.0,
                         "status": "generation_error" if c is None or c.finish_reason == "error" else "",
                         "finish_reason": c.finish_reason if c is not None else "error",
                         "prompt_tokens": c.prompt_tokens if c is not None else 0,
                         "completion_tokens": c.completion_tokens if c is not None else 0,
                         LATENCY_KEY: round(res.latency_s / max(n, 1), 4),
                         "error": res.error or (c.error if c is not None else "no completion returned")})
    by_id = {p.id: p for p in problems}
    math_rows = [r for r in rows if r["domain"] == "math" and r["status"] == ""]
    code_rows = [r for r in rows if r["domain"] == "code" and r["status"] == ""]
    if math_rows:
        scores = score_math([{"id": r["problem_id"], "response": r["response"], "answer": by_id[r["problem_id"]].answer}
                             for r in math_rows], workers=workers)
        for r, s in zip(math_rows, scores):
            r["reward"], r["status"] = s.reward, s.status
    if code_rows:
        scores = score_code([{"id": r["problem_id"], "response": r["response"],
                              "tests": [t.to_dict() for t in by_id[r["problem_id"]].tests]} for r in code_rows],
                            scheme=code_scheme, workers=workers, allow_weak_isolation=allow_weak_isolation)
        for r, s in zip(code_rows, scores):
            r["reward"], r["status"] = s.reward, s.status
    return rows, usage
