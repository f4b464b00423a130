"""Build one pretraining stage's data: mixture over sources, tokenize, pack into shards.

Sources are the corpus domains (``math``, ``code``, ``science``, ``general``; each document with its
selection weight, so low-value content is down-sampled), ``synthetic`` (synthetic reasoning
conversations rendered with the tokenizer's chat template) and ``problems`` (training-split reasoning
problems with their worked solutions as plain documents, :mod:`mimo.problems.worked`). Stage 1
gives synthetic share 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mimo.data.mixture import MixtureDoc, MixtureSpec, build_mixture
from mimo.data.packing import pack_documents


class StageDataSpec(BaseModel):
    """Target shares per source, token budget and sequence length of one stage."""

    model_config = ConfigDict(extra="forbid")
    shares: dict[str, float]
    total_tokens: int = Field(gt=0)
    seq_len: int = Field(ge=2)
    seed: int = 0


def render_sources(corpus: Sequence[dict], conversations: Sequence[list[dict]], tokenizer: Any,
                   worked: Sequence[tuple[str, str, str]] = ()) -> tuple[dict[str, list[int]], list[MixtureDoc]]:
    """Token ids per document id and the mixture candidates (one tokenization per document);
    ``worked`` = ``(doc id, domain, text)`` of worked problems (source ``problems``)."""
    ids, texts, sources, weights = [], [], [], []
    for r in corpus:
        ids.append(f"doc:{r['doc_id']}")
        texts.append(r["text"])
        sources.append(r["domain"])
        weights.append(float(r.get("weight", 1.0)))
    for i, conv in enumerate(conversations):
        ids.append(f"synthetic:{i}")
        texts.append(tokenizer.apply_chat_template(conv, tokenize=False))
        sources.append("synthetic")
        weights.append(1.0)
    for doc_id, _domain, text in worked:
        ids.append(doc_id)
        texts.append(text)
        sources.append("problems")
        weights.append(1.0)
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    tokens = dict(zip(ids, encoded))
    docs = [MixtureDoc(i, s, len(t), w) for i, s, t, w in zip(ids, sources, encoded, weights)]
    return tokens, docs


def build_stage_data(tokens: dict[str, list[int]], docs: Sequence[MixtureDoc], spec: StageDataSpec,
                     eos_id: int, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Draw the mixture, pack it into ``out_dir``; returns metadata (realized shares, rows...)."""
    mixture = build_mixture(docs, MixtureSpec(shares=spec.shares, total_tokens=spec.total_tokens, seed=spec.seed))
    stats = pack_documents((tokens[d] for d in mixture.doc_ids), spec.seq_len, eos_id, out_dir,
                           meta={"mixture": mixture.to_metadata(), "spec": spec.model_dump()})
    if stats.rows == 0:
        raise ValueError(f"stage data has no full row of {spec.seq_len} tokens ({stats.tokens} tokens drawn)")
    return {"mixture": mixture.to_metadata(), "rows": stats.rows, "seq_len": spec.seq_len,
            "documents_drawn": stats.documents, "tokens_packed": stats.rows * spec.seq_len,
            "dropped_tail_tokens": stats.dropped_tail_tokens}
