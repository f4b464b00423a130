"""The per-document columns that tagging adds to the pages: the tagger's domain, domain
probabilities and scores, the word count, and what each heuristic filter would drop (its reason,
or ``None``)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from mimo.data.tagging.annotator import DOMAINS
from mimo.data.tagging.features import text_stats
from mimo.data.tagging.heuristics import HEURISTIC_FILTERS
from mimo.data.tagging.tagger import TagScores


def tag_columns(texts: Sequence[str], tags: Sequence[TagScores]) -> dict[str, list]:
    """Column name -> one value per document, in the documents' order."""
    columns: dict[str, list] = {"domain": [], **{f"p_{d}": [] for d in DOMAINS}, "quality": [],
                                "knowledge_density": [], "reasoning_depth": [], "n_words": [],
                                **{f"heuristic_{name}": [] for name in HEURISTIC_FILTERS}}
    for text, tag in zip(texts, tags, strict=True):
        st = text_stats(text)
        columns["domain"].append(tag.domain)
        for d in DOMAINS:
            columns[f"p_{d}"].append(tag.domain_probs[d])
        columns["quality"].append(tag.quality)
        columns["knowledge_density"].append(tag.knowledge_density)
        columns["reasoning_depth"].append(tag.reasoning_depth)
        columns["n_words"].append(st.n_words)
        for name, fn in HEURISTIC_FILTERS.items():
            columns[f"heuristic_{name}"].append(fn(text, st))
    return columns


def tag_schema() -> pa.Schema:
    """Arrow types of :func:`tag_columns` (fixed, so that slices tagged apart concatenate)."""
    return pa.schema([("domain", pa.string()), *[(f"p_{d}", pa.float64()) for d in DOMAINS],
                      ("quality", pa.float64()), ("knowledge_density", pa.float64()),
                      ("reasoning_depth", pa.float64()), ("n_words", pa.int64()),
                      *[(f"heuristic_{name}", pa.string()) for name in HEURISTIC_FILTERS]])
