"""Deduplication: URL normalization, exact content hashing, global MinHash LSH near-dup removal."""

from mimo.data.dedup.exact import (
    content_hash,
    exact_dedup,
    first_occurrence_mask,
    normalize_whitespace,
)
from mimo.data.dedup.minhash import (
    DedupResult,
    MinHashConfig,
    candidate_probability,
    dedup_from_signatures,
    duplicate_clusters,
    empty_mask,
    estimated_jaccard,
    lsh_candidate_pairs,
    minhash_dedup,
    minhash_signatures,
    shingle_set,
)
from mimo.data.dedup.urls import dedup_urls, normalize_url, url_key

__all__ = [
    "DedupResult",
    "MinHashConfig",
    "candidate_probability",
    "content_hash",
    "dedup_from_signatures",
    "dedup_urls",
    "duplicate_clusters",
    "empty_mask",
    "estimated_jaccard",
    "exact_dedup",
    "first_occurrence_mask",
    "lsh_candidate_pairs",
    "minhash_dedup",
    "minhash_signatures",
    "normalize_url",
    "normalize_whitespace",
    "shingle_set",
    "url_key",
]
