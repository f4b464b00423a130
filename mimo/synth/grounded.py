"""Strategy 1: analyses and in-depth thinking grounded on high-reasoning-depth documents."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mimo.generate.base import GenerationRequest, Generator, SamplingParams, generate_all
from mimo.synth.prompts import grounded_messages
from mimo.synth.samples import StrategyYield, SyntheticSample, collect_candidates, make_sample, screen_response

STRATEGY = "grounded_analysis"


@dataclass
class GroundedConfig:
    """Which corpus documents are analysed, and how."""

    min_reasoning_depth: float = 2.5
    domains: tuple[str, ...] = ("math", "code", "science")
    max_documents: int = 200
    max_document_words: int = 1500
    samples_per_document: int = 1
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.7, max_tokens=2048))


def select_documents(rows: Sequence[dict], cfg: GroundedConfig) -> list[dict]:
    """STEM documents at or above the reasoning-depth threshold, deepest first (ties by doc_id)."""
    chosen = [r for r in rows if r.get("domain") in cfg.domains
              and float(r.get("reasoning_depth") or 0) >= cfg.min_reasoning_depth and (r.get("text") or "").strip()]
    chosen.sort(key=lambda r: (-float(r["reasoning_depth"]), str(r["doc_id"])))
    return chosen[: cfg.max_documents]


def _clip_words(text: str, limit: int) -> str:
    words = text.split(" ")
    return text if len(words) <= limit else " ".join(words[:limit]) + " [...]"


def generate_grounded(generator: Generator, documents: Sequence[dict], cfg: GroundedConfig,
                      source_artifact: str = "", log: Callable[[str], None] | None = None,
                      ) -> tuple[list[SyntheticSample], StrategyYield]:
    """Generate and screen analyses of the given corpus documents."""
    tally = StrategyYield(STRATEGY, prompts=len(documents))
    params = SamplingParams(**{**cfg.params.to_dict(), "n": cfg.samples_per_document})
    sources, requests = [], []
    for doc in documents:
        messages = grounded_messages(_clip_words(doc["text"], cfg.max_document_words), doc.get("title") or "")
        sources.append(("document", str(doc["doc_id"]), str(doc.get("domain", "")), messages, {}))
        requests.append(GenerationRequest(messages, params, str(doc["doc_id"])))
    results, _ = generate_all(generator, requests, desc=STRATEGY, log=log)
    kept = []
    for cand in collect_candidates(results, sources, tally):
        reason = screen_response(cand.completion)
        if reason:
            tally.dropped[reason] += 1
            continue
        kept.append(make_sample(STRATEGY, cand, "unverified", generator, params, source_artifact))
    tally.verified = tally.kept = len(kept)
    return kept, tally
