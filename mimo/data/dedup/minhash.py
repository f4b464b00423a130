"""Vectorized MinHash + LSH near-duplicate detection (numpy only, no per-word Python loop).

Pipeline (see docs/dedup.md for the rationale and measured numbers):

1. Normalize: per-code-point lowercasing (if ``config.lowercase``; simple one-to-one case
   mapping, BMP only); every character that is not a Unicode
   letter, number or combining mark (categories L*, N*, M*) is a separator. So punctuation,
   symbols, emoji and all whitespace are removed/collapsed and words are the maximal runs of
   letters/digits/marks (``"Don't stop!"`` -> ``["don", "t", "stop"]``).
2. Word hashes: the batch is encoded once as UTF-32; each word is hashed with a position-weighted
   sum of its code points (one random odd 64-bit multiplier per position mod 256, wrap-around
   arithmetic), then the murmur3 ``fmix64`` finalizer. All of it is numpy over the whole batch.
3. Shingles: word n-grams; the n-gram hash is ``fmix64(sum_t word[j+t] * C_t)`` (fixed random odd
   ``C_t``), its high 32 bits are the shingle value ``x``. A document with ``0 < words < n`` gets a
   single shingle made from all its words; a document with no words gets no shingle (see 5).
4. Permutations: ``h_k(x) = (a_k * x + b_k) mod 2**32`` with ``a_k`` odd (a bijection on 32-bit
   words), ``a_k, b_k`` drawn from ``numpy PCG64(seed)``. Computed in uint32 over a
   ``[num_perm, chunk]`` block and min-reduced per document with ``np.minimum.reduceat``.
   The family is only an affine map, so the min-wise behaviour relies on ``x`` being a well mixed
   hash (it is: step 2/3 end in ``fmix64``); the tests check the Jaccard estimate's spread is the
   binomial one expected from independent permutations.
5. Empty documents (no word) get the all-``0xFFFFFFFF`` signature, never enter LSH, stay in their
   own cluster and are kept; ``DedupResult.empty`` flags them for the caller.
6. LSH: per band, the ``rows_per_band`` values are hashed to a uint64 key, sorted, and equal keys
   whose rows are also exactly equal form a bucket; each member is paired with the bucket's lowest
   index (a star, enough for connectivity, linear instead of quadratic in the bucket size).
7. Clusters: connected components by vectorized union-find (hook larger root under smaller root,
   pointer jumping), so the cluster id is the lowest (earliest) document index of the cluster and
   that document is the one kept.

Signatures of different shards can be computed independently (they depend only on the text and the
config) and concatenated; LSH and clustering then run globally (:func:`dedup_from_signatures`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

EMPTY_VALUE = np.uint32(0xFFFFFFFF)
_TABLE_SEED = (
    0x6D696D6F  # fixed: word/n-gram hashing must not depend on the MinHash seed
)
_MAX_NGRAM = 64
_CHUNK = 8192  # shingles per permutation block: [num_perm, _CHUNK] uint32 (~3.7 MB for 112 perms)
_BATCH_CHARS = (
    1 << 17
)  # characters per text batch: keeps the per-character temporaries in cache
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SHORT_DOC_TAG = np.uint64(0x5BD1E9955BD1E995)


@dataclass(frozen=True)
class MinHashConfig:
    """MinHash/LSH parameters (defaults: FineWeb/datatrove's word 5-grams, 14 bands x 8 rows)."""

    ngram_size: int = 5
    num_bands: int = 14
    rows_per_band: int = 8
    seed: int = 1
    lowercase: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.ngram_size <= _MAX_NGRAM:
            raise ValueError(f"ngram_size must be in [1, {_MAX_NGRAM}]")
        if self.num_bands < 1 or self.rows_per_band < 1:
            raise ValueError("num_bands and rows_per_band must be >= 1")

    @property
    def num_perm(self) -> int:
        """Signature length: num_bands * rows_per_band."""
        return self.num_bands * self.rows_per_band

    @property
    def threshold(self) -> float:
        """Similarity where P(candidate) rises fastest, about (1/b)^(1/r)."""
        return (1.0 / self.num_bands) ** (1.0 / self.rows_per_band)


def candidate_probability(
    similarity: float | np.ndarray, config: MinHashConfig = MinHashConfig()
):
    """P(two docs with Jaccard ``s`` share at least one band) = 1 - (1 - s^r)^b."""
    s = np.asarray(similarity, dtype=np.float64)
    return 1.0 - (1.0 - s**config.rows_per_band) ** config.num_bands


@dataclass
class DedupResult:
    """Outcome of a near-duplicate pass over ``len(keep)`` documents."""

    keep: np.ndarray  # bool per doc: True for the earliest doc of each cluster
    cluster_id: np.ndarray  # int64 per doc: lowest doc index of its cluster
    n_clusters_with_dups: int
    n_removed: int
    cluster_sizes: dict[
        int, int
    ]  # cluster size -> number of clusters (size 1 included)
    empty: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=bool)
    )  # docs without words
    n_candidate_pairs: int = 0


# --------------------------------------------------------------------------- fixed tables


@functools.cache
def _bmp_table(lowercase: bool) -> np.ndarray:
    """uint32 table over the BMP: 0 for separators, else the (lowercased) code point."""
    table = np.zeros(0x10000, dtype=np.uint32)
    for i in range(1, 0x10000):
        c = chr(i)
        if unicodedata.category(c)[0] in "LNM":
            low = c.lower() if lowercase else c
            table[i] = ord(low) if len(low) == 1 else i
    return table


def _astral_word_chars(cps: np.ndarray) -> np.ndarray:
    """Code points above the BMP -> themselves if letter/number/mark else 0 (no case folding)."""
    uniq, inv = np.unique(cps, return_inverse=True)
    is_word = np.array(
        [unicodedata.category(chr(int(c)))[0] in "LNM" for c in uniq], dtype=bool
    )
    return np.where(is_word, uniq, 0).astype(np.uint32)[inv]


@functools.cache
def _fixed_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(_TABLE_SEED))
    char_mult = rng.integers(0, 2**64, size=256, dtype=np.uint64) | np.uint64(1)
    ngram_mult = rng.integers(0, 2**64, size=_MAX_NGRAM, dtype=np.uint64) | np.uint64(1)
    band_mult = rng.integers(0, 2**64, size=1024, dtype=np.uint64) | np.uint64(1)
    return char_mult, ngram_mult, band_mult


@functools.cache
def _permutations(seed: int, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(
        np.uint32
    ) | np.uint32(1)
    b = rng.integers(0, 2**32, size=num_perm, dtype=np.uint64).astype(np.uint32)
    return a, b


def _fmix64(h: np.ndarray) -> np.ndarray:
    """murmur3 64-bit finalizer, in place on a uint64 array."""
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


# --------------------------------------------------------------------------- shingling


def _word_hashes(
    texts: Sequence[str], lowercase: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Hash every word of every text; returns (uint64 hashes [W], words per doc [n])."""
    n = len(texts)
    cp = np.frombuffer(
        "\x00".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32
    )
    chars = _bmp_table(lowercase)[np.minimum(cp, 0xFFFF)]  # 0 = separator
    astral = np.flatnonzero(cp > 0xFFFF)
    if len(astral):
        chars[astral] = _astral_word_chars(cp[astral])
    edge = np.zeros(len(chars) + 1, dtype=bool)
    np.not_equal(chars, 0, out=edge[1:])
    start_idx = np.flatnonzero(edge[1:] & ~edge[:-1])
    doc_start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(
        np.fromiter(map(len, texts), dtype=np.int64, count=n) + 1, out=doc_start[1:]
    )
    counts = np.diff(np.searchsorted(start_idx, doc_start))
    if len(start_idx) == 0:
        return np.zeros(0, dtype=np.uint64), counts
    # position of each character inside its word (separators after a word continue the count,
    # they contribute 0 to the sum): a cumsum that restarts at every word start
    inc = np.ones(len(chars), dtype=np.intp)
    inc[start_idx[1:]] = 1 - np.diff(start_idx)
    inc[0] = -start_idx[0]
    pos = np.cumsum(inc)
    pos &= 255
    vals = _fixed_tables()[0][pos]
    vals *= chars
    return _fmix64(np.add.reduceat(vals, start_idx)), counts


def _shingles(
    word_hash: np.ndarray, counts: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Word-hash runs -> (uint32 shingle values [S], shingle offsets per doc [n+1])."""
    ngram_mult = _fixed_tables()[1]
    n_words = len(word_hash)
    n_sh = np.where(counts >= k, counts - k + 1, (counts > 0).astype(np.int64))
    sh_off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(n_sh, out=sh_off[1:])
    total = int(sh_off[-1])
    if total == 0:
        return np.zeros(0, dtype=np.uint32), sh_off
    word_off = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=word_off[1:])
    padded = np.zeros(n_words + k - 1, dtype=np.uint64)
    padded[:n_words] = word_hash
    g = padded[:n_words] * ngram_mult[0]
    tmp = np.empty_like(g)
    for t in range(1, k):
        np.multiply(padded[t : t + n_words], ngram_mult[t], out=tmp)
        g += tmp
    starts = np.repeat(word_off[:-1] - sh_off[:-1], n_sh) + np.arange(
        total, dtype=np.int64
    )
    x = g[starts]
    short = np.flatnonzero((counts > 0) & (counts < k))
    if len(short):  # one shingle from the few words of a short doc
        s0, m = word_off[short], counts[short]
        acc = np.full(len(short), _SHORT_DOC_TAG, dtype=np.uint64)
        for t in range(k - 1):
            live = m > t
            acc[live] += word_hash[s0[live] + t] * ngram_mult[t]
        x[sh_off[short]] = acc
    return (_fmix64(x) >> _S32).astype(np.uint32), sh_off


def _minhash_block(
    x: np.ndarray, sh_off: np.ndarray, config: MinHashConfig
) -> np.ndarray:
    """Min over each doc's shingles of every permutation -> [n, num_perm] uint32."""
    a, b = _permutations(config.seed, config.num_perm)
    n = len(sh_off) - 1
    sig_t = np.full((config.num_perm, n), EMPTY_VALUE, dtype=np.uint32)
    nonempty = np.flatnonzero(np.diff(sh_off) > 0)
    ne_off = sh_off[nonempty]
    buf = np.empty((config.num_perm, min(_CHUNK, max(len(x), 1))), dtype=np.uint32)
    a_col, b_col = a[:, None], b[:, None]
    for lo in range(0, len(x), _CHUNK):
        hi = min(lo + _CHUNK, len(x))
        j0 = int(np.searchsorted(ne_off, lo, side="right")) - 1
        j1 = int(np.searchsorted(ne_off, hi, side="left"))
        segs = ne_off[j0:j1] - lo
        segs[0] = 0
        block = buf[:, : hi - lo]
        np.multiply(a_col, x[None, lo:hi], out=block)
        block += b_col
        mins = np.minimum.reduceat(block, segs, axis=1)
        docs = nonempty[j0:j1]
        sig_t[:, docs] = np.minimum(sig_t[:, docs], mins)
    return np.ascontiguousarray(sig_t.T)


def minhash_signatures(
    texts: Sequence[str], config: MinHashConfig = MinHashConfig()
) -> np.ndarray:
    """MinHash signatures, shape ``[len(texts), num_perm]`` uint32; empty docs are all 0xFFFFFFFF."""
    out = np.empty((len(texts), config.num_perm), dtype=np.uint32)
    i = 0
    while i < len(texts):
        j, chars = i, 0
        while j < len(texts) and (j == i or chars + len(texts[j]) <= _BATCH_CHARS):
            chars += len(texts[j])
            j += 1
        wh, counts = _word_hashes(texts[i:j], config.lowercase)
        x, sh_off = _shingles(wh, counts, config.ngram_size)
        out[i:j] = _minhash_block(x, sh_off, config)
        i = j
    return out


# --------------------------------------------------------------------------- LSH + clustering


def empty_mask(signatures: np.ndarray) -> np.ndarray:
    """True for rows that are the empty-document signature."""
    return (np.asarray(signatures) == EMPTY_VALUE).all(axis=1)


def band_keys(rows: np.ndarray) -> np.ndarray:
    """uint64 bucket key of each row of one band's values ``[n, rows_per_band]``."""
    if rows.shape[1] > 1024:
        raise ValueError("rows_per_band > 1024 not supported")
    mult = _fixed_tables()[2][: rows.shape[1]]
    return (rows.astype(np.uint64) * mult).sum(axis=1, dtype=np.uint64)


def star_pairs(keys: np.ndarray, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Over records already sorted by key: ``[P, 2]`` (first id of each run of equal key and band
    values, member) for every member after the first; empty when no two records share a bucket."""
    same = (keys[1:] == keys[:-1]) & (rows[1:] == rows[:-1]).all(axis=1)
    if not same.any():
        return np.zeros((0, 2), dtype=np.int64)
    start = np.concatenate(([0], np.where(same, 0, np.arange(1, len(keys)))))
    np.maximum.accumulate(start, out=start)
    members = np.flatnonzero(same) + 1
    return np.stack([ids[start[members]], ids[members]], axis=1).astype(np.int64)


def result_from_cluster_ids(cid: np.ndarray, empty: np.ndarray | None = None,
                            n_candidate_pairs: int = 0) -> DedupResult:
    """The :class:`DedupResult` of cluster ids (lowest document index of each cluster)."""
    n = len(cid)
    keep = cid == np.arange(n)
    root_sizes = np.bincount(cid, minlength=n)[keep]
    sizes, counts = np.unique(root_sizes, return_counts=True)
    return DedupResult(keep=keep, cluster_id=cid, n_clusters_with_dups=int((root_sizes > 1).sum()),
                       n_removed=int(n - keep.sum()), cluster_sizes={int(s): int(c) for s, c in zip(sizes, counts)},
                       empty=empty if empty is not None else np.zeros(0, dtype=bool),
                       n_candidate_pairs=n_candidate_pairs)


def lsh_candidate_pairs(
    signatures: np.ndarray, config: MinHashConfig = MinHashConfig()
) -> np.ndarray:
    """Doc index pairs ``[P, 2]`` (int64, ``i < j``, unique) that share a band bucket.

    Each bucket contributes (lowest index, member) pairs only; empty documents never pair."""
    sig = np.asarray(signatures)
    num_perm = sig.shape[1]
    if num_perm != config.num_perm:
        raise ValueError(
            f"signatures have {num_perm} values, config expects {config.num_perm}"
        )
    if config.rows_per_band > 1024:
        raise ValueError("rows_per_band > 1024 not supported")
    valid = np.flatnonzero(~empty_mask(sig))
    sig = sig[valid]
    r = config.rows_per_band
    found = []
    for band in range(config.num_bands):
        rows = sig[:, band * r : (band + 1) * r]
        key = band_keys(rows)
        order = np.argsort(key, kind="stable")
        pairs = star_pairs(key[order], rows[order], order)
        if len(pairs):
            found.append(pairs)
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    local = np.concatenate(found)
    code = np.unique(local[:, 0].astype(np.int64) * max(len(valid), 1) + local[:, 1])
    u, v = np.divmod(code, max(len(valid), 1))
    return np.stack([valid[u], valid[v]], axis=1).astype(np.int64)


def duplicate_clusters(n_docs: int, pairs: np.ndarray) -> np.ndarray:
    """Connected components of the pair graph; id = lowest doc index in the component."""
    parent = np.arange(n_docs, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    u, v = pairs[:, 0], pairs[:, 1]
    while len(u):
        pu, pv = parent[u], parent[v]
        open_ = pu != pv
        if not open_.any():
            break
        u, v, pu, pv = u[open_], v[open_], pu[open_], pv[open_]
        np.minimum.at(
            parent, np.maximum(pu, pv), np.minimum(pu, pv)
        )  # hook root under smaller root
        while True:  # pointer jumping until every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


def dedup_from_signatures(
    signatures: np.ndarray,
    config: MinHashConfig = MinHashConfig(),
    verify_jaccard: float | None = None,
) -> DedupResult:
    """Global LSH + clustering over signatures (e.g. concatenated from all shards).

    ``verify_jaccard``: drop candidate pairs whose signature-estimated Jaccard is below it."""
    sig = np.asarray(signatures)
    n = sig.shape[0]
    pairs = lsh_candidate_pairs(sig, config)
    if verify_jaccard is not None and len(pairs):
        est = np.concatenate(
            [
                (sig[pairs[i : i + 65536, 0]] == sig[pairs[i : i + 65536, 1]]).mean(
                    axis=1
                )
                for i in range(0, len(pairs), 65536)
            ]
        )
        pairs = pairs[est >= verify_jaccard]
    cid = duplicate_clusters(n, pairs)
    return result_from_cluster_ids(cid, empty_mask(sig) if n else None, len(pairs))


def minhash_dedup(
    texts: Sequence[str],
    config: MinHashConfig = MinHashConfig(),
    verify_jaccard: float | None = None,
) -> DedupResult:
    """Near-duplicate removal over all ``texts`` at once: signatures, global LSH, clusters."""
    return dedup_from_signatures(
        minhash_signatures(texts, config), config, verify_jaccard
    )


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature values, the MinHash estimate of Jaccard similarity."""
    return float(np.mean(np.asarray(sig_a) == np.asarray(sig_b)))


def shingle_set(text: str, config: MinHashConfig = MinHashConfig()) -> set[int]:
    """The exact set of 32-bit shingle values of one text (for tests / exact Jaccard)."""
    wh, counts = _word_hashes([text], config.lowercase)
    x, _ = _shingles(wh, counts, config.ngram_size)
    return set(x.tolist())
