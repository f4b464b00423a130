"""A per-page confidence that the extraction is complete, in [0, 1], so the corpus stage can drop or
re-extract weak pages.

Signals, all from the extraction itself: how much of the page's visible prose the text keeps
(coverage), whether its length fits what pages of its type hold, the page-type model's confidence,
and how link-like the text is. How well the score predicts a low benchmark F1 is measured on the
WCXB development split (``bench/bench_extraction.py``).
"""

from __future__ import annotations

import math

from lxml.html import HtmlElement

_HIDDEN = ("script", "style", "noscript")

#: typical main-content length in words per page type (the WCXB dev split's ground-truth medians)
TYPICAL_WORDS = {"article": 1500, "documentation": 2400, "forum": 850, "service": 730, "collection": 580,
                 "listing": 430, "product": 340}


def visible_words(root: HtmlElement) -> int:
    """Words of visible text in the page body (scripts and styles excluded)."""
    body = root.find("body")
    if body is None:
        return 0
    total = sum(len(t.split()) for t in body.itertext())
    hidden = sum(len(t.split()) for el in body.iter(*_HIDDEN) for t in _inner_text(el))
    return total - hidden


def _inner_text(el: HtmlElement) -> list[str]:
    """Text inside ``el`` (its tail excluded), skipping elements nested in an outer hidden one."""
    if any(a.tag in _HIDDEN for a in el.iterancestors()):
        return []
    return list(el.itertext())


def extraction_quality(words: int, page_words: int, kind: str | None, type_confidence: float = 1.0) -> float:
    """The confidence score (module docstring); 0 for an empty extraction."""
    if words <= 0:
        return 0.0
    coverage = min(1.0, words / max(page_words, 1))
    typical = TYPICAL_WORDS.get(kind or "article", 1000)
    # 1 when the length is within 4x of the type's typical length either way, falling off beyond
    fit = max(0.0, 1.0 - max(0.0, abs(math.log(words / typical)) - math.log(4)) / math.log(8))
    score = 0.45 * fit + 0.35 * min(1.0, coverage / 0.3) + 0.2 * type_confidence
    return round(max(0.0, min(1.0, score)), 4)
