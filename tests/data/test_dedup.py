"""Tests for mimo.data.dedup: URL normalization, exact dedup, MinHash LSH."""

from __future__ import annotations

import numpy as np
import pytest

import mimo.data.dedup.minhash as mh
from mimo.data.dedup import (
    MinHashConfig,
    candidate_probability,
    content_hash,
    dedup_from_signatures,
    dedup_urls,
    duplicate_clusters,
    estimated_jaccard,
    exact_dedup,
    lsh_candidate_pairs,
    minhash_dedup,
    minhash_signatures,
    normalize_url,
    shingle_set,
    url_key,
)

CFG = MinHashConfig()


def _vocab(n: int = 3000, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(3, 10))) for _ in range(n)]


VOCAB = _vocab()


def _doc(rng: np.random.Generator, n_words: int = 300) -> list[str]:
    return [VOCAB[i] for i in rng.integers(0, len(VOCAB), size=n_words)]


def _edit(words: list[str], rng: np.random.Generator, n_changes: int) -> list[str]:
    out = list(words)
    for pos in rng.choice(len(out), size=n_changes, replace=False):
        out[pos] = "zz" + VOCAB[rng.integers(len(VOCAB))]
    return out


def _jaccard(a: str, b: str) -> float:
    sa, sb = shingle_set(a), shingle_set(b)
    return len(sa & sb) / len(sa | sb)


# ----------------------------------------------------------------------------- URLs


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "HTTP://WWW.Example.COM:80/a//b/./c/../d/?utm_source=x&b=2&a=1&fbclid=z#frag",
            "http://example.com/a/b/d?a=1&b=2",
        ),
        ("https://example.com:443", "https://example.com/"),
        ("https://example.com:8443/", "https://example.com:8443/"),
        ("example.com/path/", "http://example.com/path"),
        ("//cdn.example.com/x.js", "http://cdn.example.com/x.js"),
        (
            "http://user:pw@Bücher.de/caf%c3%a9/%7euser",
            "http://xn--bcher-kva.de/caf%C3%A9/~user",
        ),
        ("http://example.com/café", "http://example.com/caf%C3%A9"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("http://example.com/?", "http://example.com/"),
        ("http://example.com/?gclid=1&UTM_Medium=2&msclkid=3", "http://example.com/"),
        ("http://example.com/p?b=2&a=2&a=1", "http://example.com/p?a=1&a=2&b=2"),
        ("HTTP://example.com./", "http://example.com/"),
        ("http://example.com/a/b/..", "http://example.com/a"),
        ("  http://example.com  ", "http://example.com/"),
        ("", ""),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_normalize_url_keeps_www_when_asked_and_is_idempotent() -> None:
    assert (
        normalize_url("http://www.example.com/", strip_www=False)
        == "http://www.example.com/"
    )
    for u in [
        "HTTP://WWW.Example.COM:80/a//b/?utm_source=x&b=2",
        "http://Bücher.de/x/",
    ]:
        assert normalize_url(normalize_url(u)) == normalize_url(u)


def test_dedup_urls_first_wins() -> None:
    urls = [
        "https://example.com/a?utm_source=tw",
        "http://www.example.com/a/",
        "https://example.com/b",
        "",
        "",
        "https://EXAMPLE.com/a#top",
    ]
    assert dedup_urls(urls).tolist() == [True, False, True, True, True, False]
    assert dedup_urls(urls, ignore_scheme=False).tolist() == [
        True,
        True,
        True,
        True,
        True,
        False,
    ]
    assert url_key("https://www.example.com/a/") == "example.com/a"


# ----------------------------------------------------------------------------- exact


def test_content_hash_whitespace_only() -> None:
    h = content_hash("Hello   world\n\tfoo ")
    assert h == content_hash("Hello world foo") and len(h) == 32
    assert h != content_hash("hello world foo")
    keep = exact_dedup(["a b", "c", "a  b\n", "c ", "d"])
    assert keep.tolist() == [True, True, False, False, True]


# ----------------------------------------------------------------------------- MinHash


def test_config_and_threshold_curve() -> None:
    assert CFG.num_perm == 112
    assert abs(CFG.threshold - (1 / 14) ** (1 / 8)) < 1e-12
    p = candidate_probability(np.array([0.5, 0.8, 0.9]))
    assert 0.05 < p[0] < 0.06 and abs(p[1] - 0.924) < 0.002 and p[2] > 0.999


def test_identical_and_normalized_docs_collide() -> None:
    rng = np.random.default_rng(1)
    text = " ".join(_doc(rng))
    variants = [
        text,
        text.upper(),
        text.replace(" ", " ,  "),
        "  " + text.replace(" ", "\n") + " !",
    ]
    sig = minhash_signatures(variants)
    assert sig.dtype == np.uint32 and sig.shape == (4, 112)
    assert (sig == sig[0]).all()


def test_near_duplicates_collide_unrelated_do_not() -> None:
    rng = np.random.default_rng(2)
    origs = [_doc(rng) for _ in range(60)]
    near = [_edit(w, rng, 3) for w in origs]
    texts = [" ".join(w) for w in origs + near]
    pairs = {
        tuple(p) for p in lsh_candidate_pairs(minhash_signatures(texts), CFG).tolist()
    }
    hits = sum((i, i + 60) in pairs for i in range(60))
    assert hits >= 59  # J ~ 0.9 -> P(candidate) > 0.999
    assert all(j - i == 60 for i, j in pairs)  # no pair between unrelated docs
    js = [_jaccard(texts[i], texts[i + 60]) for i in range(5)]
    assert all(0.8 < j < 0.97 for j in js)


def test_determinism_and_seed() -> None:
    rng = np.random.default_rng(3)
    texts = [" ".join(_doc(rng, 50)) for _ in range(20)]
    a, b = minhash_signatures(texts), minhash_signatures(texts)
    assert np.array_equal(a, b)
    c = minhash_signatures(texts, MinHashConfig(seed=2))
    assert (a != c).mean() > 0.9


def test_signatures_independent_of_batching(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    texts = [" ".join(_doc(rng, int(rng.integers(0, 400)))) for _ in range(40)] + [
        "",
        "a b",
    ]
    whole = minhash_signatures(texts)
    single = np.concatenate([minhash_signatures([t]) for t in texts])
    monkeypatch.setattr(mh, "_BATCH_CHARS", 1500)
    monkeypatch.setattr(mh, "_CHUNK", 97)
    small = minhash_signatures(texts)
    assert np.array_equal(whole, single) and np.array_equal(whole, small)
    shards = np.concatenate(
        [minhash_signatures(texts[:13]), minhash_signatures(texts[13:])]
    )
    assert np.array_equal(whole, shards)


def test_jaccard_estimate_matches_true_jaccard() -> None:
    rng = np.random.default_rng(5)
    errors, trues = [], []
    for n_changes in (5, 15, 30, 60):
        for _ in range(15):
            base = _doc(rng)
            a, b = " ".join(base), " ".join(_edit(base, rng, n_changes))
            sig = minhash_signatures([a, b])
            j = _jaccard(a, b)
            est = estimated_jaccard(sig[0], sig[1])
            assert abs(est - j) <= 4 * np.sqrt(j * (1 - j) / 112) + 0.02
            errors.append(est - j)
            trues.append(j)
    errors_a, trues_a = np.array(errors), np.array(trues)
    assert abs(errors_a.mean()) < 0.015  # unbiased
    binom_sd = np.sqrt(np.mean(trues_a * (1 - trues_a) / 112))
    assert errors_a.std() < 1.4 * binom_sd  # permutations behave as independent


def test_short_empty_and_unicode_docs() -> None:
    texts = [
        "",
        "   ",
        "!!! ---",
        "two words",
        "Two, words!",
        "other words",
        "naïve café 𠀀 déjà",
        "naïve café 😀 déjà",
    ]
    res = minhash_dedup(texts)
    assert res.empty.tolist() == [True, True, True, False, False, False, False, False]
    assert res.keep[:3].all() and res.cluster_id[:3].tolist() == [
        0,
        1,
        2,
    ]  # empty docs: own cluster, kept
    assert (
        res.cluster_id[4] == 3 and not res.keep[4]
    )  # short docs: one whole-doc shingle
    assert (
        res.keep[5] and res.keep[6] and res.keep[7]
    )  # emoji is a separator, U+20000 a word char
    assert shingle_set("naïve café 𠀀 déjà") != shingle_set("naïve café déjà")


def test_clusters_transitive_and_earliest_kept() -> None:
    cid = duplicate_clusters(9, np.array([[5, 7], [1, 5], [7, 8], [2, 3]]))
    assert cid.tolist() == [0, 1, 2, 2, 4, 1, 6, 1, 1]
    rng = np.random.default_rng(6)
    n = 2000
    pairs = rng.integers(0, n, size=(1500, 2))
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in pairs.tolist():
        ru, rv = find(u), find(v)
        parent[max(ru, rv)] = min(ru, rv)
    assert duplicate_clusters(n, pairs).tolist() == [find(i) for i in range(n)]


def test_minhash_dedup_keeps_earliest_and_reports() -> None:
    rng = np.random.default_rng(7)
    a, b, c = (_doc(rng) for _ in range(3))
    # chain: a0 ~ a1 ~ a2 by small edits; earliest index of the cluster must be kept
    a1 = _edit(a, rng, 2)
    a2 = _edit(a1, rng, 2)
    texts = [" ".join(w) for w in (c, a2, b, a, a1, b)]
    res = minhash_dedup(texts)
    assert res.cluster_id.tolist() == [0, 1, 2, 1, 1, 2]
    assert res.keep.tolist() == [True, True, True, False, False, False]
    assert res.n_removed == 3 and res.n_clusters_with_dups == 2
    assert res.cluster_sizes == {1: 1, 2: 1, 3: 1}
    same = dedup_from_signatures(minhash_signatures(texts))
    assert np.array_equal(same.keep, res.keep)


def test_verify_jaccard_drops_weak_pairs() -> None:
    rng = np.random.default_rng(8)
    base = _doc(rng, 400)
    texts = [
        " ".join(base),
        " ".join(_edit(base, rng, 40)),
    ]  # J ~ 0.6: rarely a candidate
    sig = minhash_signatures(texts)
    forced = sig.copy()
    forced[1, :8] = forced[0, :8]  # force a shared band
    assert minhash_dedup(texts, verify_jaccard=None).n_removed in (0, 1)
    assert dedup_from_signatures(forced).n_removed == 1
    assert dedup_from_signatures(forced, verify_jaccard=0.8).n_removed == 0


def test_bad_signature_width() -> None:
    with pytest.raises(ValueError):
        lsh_candidate_pairs(np.zeros((3, 10), dtype=np.uint32), CFG)
    assert lsh_candidate_pairs(np.zeros((0, 112), dtype=np.uint32), CFG).shape == (0, 2)
    assert minhash_dedup([]).n_removed == 0
