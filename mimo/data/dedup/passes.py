"""The three dedup passes over one in-memory corpus, in order: normalized URL, exact content, then
MinHash near-duplicates, each over what the passes before kept; the earliest copy wins. The
reference for the engine's stages (:mod:`mimo.data.dedup.stages.full`), which give the same
removals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mimo.data.dedup.exact import content_hash
from mimo.data.dedup.minhash import DedupResult, MinHashConfig, minhash_dedup
from mimo.data.dedup.urls import normalize_url


@dataclass
class Removal:
    """Document ``index`` removed by ``stage`` (``url``, ``exact``, ``minhash``) as a copy of ``kept``."""

    index: int
    stage: str
    kept: int


def first_copies(keys: Sequence[str], candidates: np.ndarray, stage: str) -> list[Removal]:
    """Removals of the later copies of equal keys among ``candidates`` (indices, in order)."""
    first: dict[str, int] = {}
    out = []
    for i in candidates.tolist():
        k = keys[i]
        if k in first:
            out.append(Removal(i, stage, first[k]))
        else:
            first[k] = i
    return out


def dedup_passes(urls: Sequence[str], texts: Sequence[str],
                 config: MinHashConfig = MinHashConfig()) -> tuple[list[Removal], DedupResult]:
    """Every removal (in pass order) and the MinHash pass's result over the survivors of the two
    exact passes."""
    n = len(texts)
    alive = np.ones(n, dtype=bool)
    removals = first_copies([normalize_url(u) for u in urls], np.arange(n), "url")
    alive[[r.index for r in removals]] = False
    hashes = [content_hash(t) if alive[i] else "" for i, t in enumerate(texts)]
    exact = first_copies(hashes, np.flatnonzero(alive), "exact")
    alive[[r.index for r in exact]] = False
    survivors = np.flatnonzero(alive)
    result = minhash_dedup([texts[i] for i in survivors], config)
    near = [Removal(int(survivors[j]), "minhash", int(survivors[result.cluster_id[j]]))
            for j in np.flatnonzero(~result.keep)]
    return removals + exact + near, result
