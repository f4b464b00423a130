"""Exact (whitespace-insensitive) content deduplication with xxh3-128."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np
import xxhash


def normalize_whitespace(text: str) -> str:
    """Strip and collapse every run of Unicode whitespace to one ASCII space."""
    return " ".join(text.split())


def content_hash(text: str) -> str:
    """xxh3_128 hex digest (32 chars) of the whitespace-normalized UTF-8 text."""
    return xxhash.xxh3_128_hexdigest(
        normalize_whitespace(text).encode("utf-8", "surrogatepass")
    )


def first_occurrence_mask(keys: Iterable[Hashable]) -> np.ndarray:
    """Bool mask, True at the first occurrence of each key (input order decides; deterministic)."""
    seen: set[Hashable] = set()
    out: list[bool] = []
    for key in keys:
        out.append(key not in seen)
        seen.add(key)
    return np.array(out, dtype=bool)


def exact_dedup(texts: Sequence[str]) -> np.ndarray:
    """Keep mask over ``texts``: the first of each group of identical (modulo whitespace) texts.

    For sharded data compute :func:`content_hash` per shard and call
    :func:`first_occurrence_mask` on the concatenated hashes (global order = shard order)."""
    return first_occurrence_mask(content_hash(t) for t in texts)
