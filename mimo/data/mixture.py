"""Pretraining data mixtures: per-stage target token shares per source, realized by weighted sampling.

MiMo's three stages: stage 1 uses every source except synthetic reasoning responses, with low-value
content down-sampled (here: the corpus ``weight`` from quality/domain scoring); stage 2 raises math
and code to about 70%; stage 3 adds about 10% synthetic reasoning data. A :class:`MixtureSpec`
names the target share of each source and the stage's token budget; :func:`build_mixture` draws
documents (weighted, with replacement once a source is exhausted) until each source's budget is met
and reports the realized shares and how many times each source was repeated (epochs).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field, model_validator


class MixtureSpec(BaseModel):
    """Target token shares per source (they must sum to 1) and the stage's token budget."""

    shares: dict[str, float]
    total_tokens: int = Field(gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> MixtureSpec:
        total = sum(self.shares.values())
        if abs(total - 1.0) > 1e-6 or any(v < 0 for v in self.shares.values()):
            raise ValueError(f"mixture shares must be >= 0 and sum to 1, got {self.shares} (sum {total:.4f})")
        return self


@dataclass
class MixtureDoc:
    """One candidate document: its source (a domain or ``synthetic``), token count and weight."""

    doc_id: str
    source: str
    tokens: int
    weight: float = 1.0


@dataclass
class MixtureResult:
    """Drawn document ids in order (repeats allowed) and what the mixture turned out to be."""

    doc_ids: list[str]
    tokens_by_source: dict[str, int]
    target_shares: dict[str, float]
    epochs_by_source: dict[str, float] = field(default_factory=dict)
    missing_sources: list[str] = field(default_factory=list)

    @property
    def realized_shares(self) -> dict[str, float]:
        total = sum(self.tokens_by_source.values()) or 1
        return {s: round(t / total, 4) for s, t in sorted(self.tokens_by_source.items())}

    def to_metadata(self) -> dict:
        return {"documents": len(self.doc_ids), "tokens": sum(self.tokens_by_source.values()),
                "tokens_by_source": dict(sorted(self.tokens_by_source.items())),
                "target_shares": self.target_shares, "realized_shares": self.realized_shares,
                "epochs_by_source": {k: round(v, 2) for k, v in sorted(self.epochs_by_source.items())},
                "missing_sources": self.missing_sources}


def build_mixture(docs: Sequence[MixtureDoc], spec: MixtureSpec) -> MixtureResult:
    """Weighted draw per source up to ``share * total_tokens`` tokens, then a seeded shuffle.

    Within a source, a first pass visits every document once in weighted-random order (documents
    with weight 0 are never drawn); later passes repeat weighted draws with replacement. Sources
    with a positive share but no documents are listed in ``missing_sources`` and their share is
    redistributed proportionally over the others.
    """
    rng = random.Random(spec.seed)
    pools: dict[str, list[MixtureDoc]] = {}
    for d in docs:
        if d.tokens > 0 and d.weight > 0:
            pools.setdefault(d.source, []).append(d)
    missing = sorted(s for s, v in spec.shares.items() if v > 0 and s not in pools)
    active = {s: v for s, v in spec.shares.items() if v > 0 and s in pools}
    if not active:
        raise ValueError(f"no documents for any source with a positive share {spec.shares}")
    norm = sum(active.values())
    drawn: list[str] = []
    tokens_by_source: Counter = Counter()
    epochs: dict[str, float] = {}
    for source, share in sorted(active.items()):
        budget = int(spec.total_tokens * share / norm)
        pool = sorted(pools[source], key=lambda d: d.doc_id)
        pool_tokens = sum(d.tokens for d in pool)
        # first pass: weighted order without replacement (Efraimidis-Spirakis keys)
        order = sorted(pool, key=lambda d: -rng.random() ** (1.0 / d.weight))
        weights = [d.weight for d in pool]
        got, i = 0, 0
        while got < budget:
            d = order[i] if i < len(order) else rng.choices(pool, weights=weights)[0]
            i += 1
            drawn.append(d.doc_id)
            got += d.tokens
        tokens_by_source[source] = got
        epochs[source] = got / pool_tokens
    rng.shuffle(drawn)
    return MixtureResult(drawn, dict(tokens_by_source), dict(spec.shares), epochs, missing)
