"""Evaluation engine (no Dagster): per-sample evaluation through the generator interface, pass@k /
avg@n / maj@n, and the replay backend that checks the machinery itself."""

from mimo.eval.evaluate import MIMO_EVAL_SAMPLING, SAMPLE_SCHEMA, evaluate
from mimo.eval.metrics import extract_boxed, pass_at_k, summarize
from mimo.eval.replay import ReplayGenerator

__all__ = ["MIMO_EVAL_SAMPLING", "ReplayGenerator", "SAMPLE_SCHEMA", "evaluate", "extract_boxed", "pass_at_k",
           "summarize"]
