"""Teacher labels for training the small tagger model on the tiny profile.

At scale MiMo labels documents with an LLM and distils the labels into small tagger models. On the
tiny profile there is no LLM, so labels come from two honest sources, recorded per document in
``label_source``:

* ``manifest``: hand-assigned domains of the project's own math/code pages (known by construction);
* ``rules``: a transparent rule annotator over document statistics (below). It never looks at URLs.

The trained classifier then learns from the text alone (hashed word n-grams), so it generalises
past the rules; its held-out agreement with these labels is reported as asset metadata. The
LLM-tagger backend (``mimo.data.tagging.llm``) replaces this annotator on clusters.
"""

from __future__ import annotations

from dataclasses import dataclass

from mimo.data.tagging.features import TextStats, text_stats

DOMAINS = ("math", "code", "science", "general")
SCORE_NAMES = ("quality", "knowledge_density", "reasoning_depth")


@dataclass
class TeacherLabel:
    """One document's training labels (scores on a 0-5 scale, FineWeb-Edu style)."""

    domain: str
    quality: float
    knowledge_density: float
    reasoning_depth: float
    label_source: str


def _clip(value: float) -> float:
    return max(0.0, min(5.0, value))


def rule_domain(s: TextStats) -> str:
    """Domain from statistics: code fences / code tokens, LaTeX density, science vocabulary."""
    code_signal = s.n_code_fences * 2 + 20 * s.code_token_ratio
    math_signal = s.math_density
    if code_signal >= 2.0 and code_signal >= math_signal:
        return "code"
    if math_signal >= 1.0:
        return "math"
    if 100.0 * s.science_terms / max(s.n_words, 1) >= 0.8:
        return "science"
    return "general"


def annotate(text: str, manifest_domain: str | None = None) -> TeacherLabel:
    """Label one document: manifest domain when known, rules otherwise; scores from rules."""
    s = text_stats(text)
    per100 = 100.0 / max(s.n_words, 1)
    technical = s.math_density + 10 * s.code_token_ratio + s.n_code_fences + s.science_terms * per100
    knowledge = _clip(1.0 + 1.2 * technical + min(s.n_words, 1500) / 750 - 0.5 * s.boilerplate_terms * per100 * 10)
    reasoning = _clip(0.5 + 2.0 * s.reasoning_markers * per100 + 0.4 * min(s.n_formulas, 10) + 0.5 * min(s.n_code_fences, 4))
    length_ok = min(s.n_words, 600) / 600
    clean = 1.0 - min(1.0, s.duplicate_line_ratio * 3 + s.boilerplate_terms * per100)
    quality = _clip(1.0 + 2.0 * length_ok + 1.5 * clean + 0.5 * min(technical, 2.0) - 2.0 * (s.n_words < 80))
    if manifest_domain:
        domain, source = manifest_domain.removeprefix("forum-"), "manifest"
    else:
        domain, source = rule_domain(s), "rules"
    return TeacherLabel(domain, round(quality, 3), round(knowledge, 3), round(reasoning, 3), source)
