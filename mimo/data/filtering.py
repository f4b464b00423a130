"""Selection and up/down-weighting of tagged documents into the pretraining corpus.

A document is kept when it is not contaminated, has enough words and its quality score clears the
bar; its sampling weight is the domain weight (math and code raised, as MiMo does) times a factor
that grows with knowledge density and reasoning depth (low-value content down-sampled).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field


class FilterConfig(BaseModel):
    """Typed selection/weighting settings (all configurable per profile)."""

    min_quality: float = 2.0
    min_words: int = 50
    domain_weights: dict[str, float] = Field(
        default_factory=lambda: {"math": 2.0, "code": 2.0, "science": 1.5, "general": 1.0})
    value_weight: float = 0.5  # how strongly knowledge density and reasoning depth raise the weight
    max_weight: float = 4.0
    heuristic_filters: list[str] = Field(default_factory=list)  # e.g. ["gopher"]: applied when listed
    shard_max_docs: int = 64


@dataclass
class Decision:
    """Keep/drop decision for one document."""

    keep: bool
    reason: str
    weight: float = 0.0
    details: dict[str, float] = field(default_factory=dict)


def decide(domain: str, quality: float, knowledge: float, reasoning: float, n_words: int,
           contamination: list[str], heuristic_failures: dict[str, str | None], cfg: FilterConfig) -> Decision:
    """Decide one document; the reason names the first rule that dropped it (or ``kept``)."""
    if contamination:
        return Decision(False, "contaminated")
    if n_words < cfg.min_words:
        return Decision(False, "too_short")
    for name in cfg.heuristic_filters:
        if heuristic_failures.get(name):
            return Decision(False, f"heuristic:{heuristic_failures[name]}")
    if quality < cfg.min_quality:
        return Decision(False, "low_quality")
    value = 1.0 + cfg.value_weight * ((knowledge + reasoning) / 5.0 - 1.0)
    weight = min(cfg.max_weight, max(0.1, cfg.domain_weights.get(domain, 1.0) * value))
    return Decision(True, "kept", round(weight, 3))
