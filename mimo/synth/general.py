"""Strategy 3: responses to general queries (creative writing and the like).

Queries come from a JSON-lines file (``{"id", "query"}`` per line; malformed lines are counted and
skipped) and/or from a deterministic template generator for the tiny profile.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mimo.generate.base import GenerationRequest, Generator, SamplingParams, generate_all
from mimo.synth.prompts import general_messages
from mimo.synth.samples import StrategyYield, SyntheticSample, collect_candidates, make_sample, screen_response

STRATEGY = "general_query"
_FORMS = ("Write a short poem about {t}.", "Write a very short story about {t}.",
          "Write a letter to a friend about {t}.", "Write a short dialogue between two people about {t}.",
          "Write a short essay on why {t} matters.", "Write a haiku about {t}.")
_TOPICS = ("autumn rain", "a lighthouse keeper", "learning to count", "an old bicycle", "the night sky",
           "a city waking up", "a lost key", "the first snow", "a patient teacher", "a small garden",
           "a train journey", "a river in spring", "a forgotten song", "the smell of bread", "a chess game")


@dataclass
class GeneralConfig:
    """Where queries come from, and how responses are sampled."""

    queries_file: str | None = None
    num_template_queries: int = 40
    seed: int = 0
    samples_per_query: int = 1
    params: SamplingParams = field(default_factory=lambda: SamplingParams(temperature=0.8, max_tokens=1024))


def template_queries(n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct creative-writing queries (form x topic), deterministic by seed."""
    pairs = [(f, t) for f in _FORMS for t in _TOPICS]
    random.Random(seed).shuffle(pairs)
    return [{"id": f"tmpl-{seed}-{i:04d}", "query": f.format(t=t)} for i, (f, t) in enumerate(pairs[:n])]


def read_queries(path: str | Path) -> tuple[list[dict], Counter]:
    """Valid ``{"id", "query"}`` lines and counts of skipped lines per reason."""
    good, skipped = [], Counter()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                skipped["bad_json"] += 1
                continue
            if not isinstance(rec, dict) or not str(rec.get("query") or "").strip() or not rec.get("id"):
                skipped["missing_id_or_query"] += 1
                continue
            good.append({"id": str(rec["id"]), "query": str(rec["query"])})
    return good, skipped


def generate_general(generator: Generator, queries: Sequence[dict], cfg: GeneralConfig,
                     log: Callable[[str], None] | None = None) -> tuple[list[SyntheticSample], StrategyYield]:
    """Generate and screen responses to general queries."""
    tally = StrategyYield(STRATEGY, prompts=len(queries))
    params = SamplingParams(**{**cfg.params.to_dict(), "n": cfg.samples_per_query})
    sources, requests = [], []
    for q in queries:
        messages = general_messages(q["query"])
        sources.append(("query", q["id"], "general", messages, {}))
        requests.append(GenerationRequest(messages, params, q["id"]))
    results, _ = generate_all(generator, requests, desc=STRATEGY, log=log)
    kept = []
    for cand in collect_candidates(results, sources, tally):
        reason = screen_response(cand.completion)
        if reason:
            tally.dropped[reason] += 1
            continue
        kept.append(make_sample(STRATEGY, cand, "unverified", generator, params))
    tally.verified = tally.kept = len(kept)
    return kept, tally
