"""A small learned page-type classifier: a hashed bag of structure features and a linear softmax.

Features (:func:`page_features`), all cheap on the parsed tree: the rule stages of
:mod:`.pagetype` (URL verdict, JSON-LD types, ``og:type``, DOM verdict), URL path words, class/id
words, tag-count buckets, prose/link statistics and title words. The model is trained here on the
WCXB development split with a held-out part split by site (``python -m
mimo.data.extract.pagetype_model --train``); its weights ship as ``pagetype_weights.npz`` beside this
file, with the held-out accuracy in its metadata. Without the weights file the rules decide.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np
import xxhash
from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.attrs import PageAttrs
from mimo.data.extract.pagetype import (
    PAGE_TYPES,
    PageType,
    _dom_type,
    _structured_type,
    _url_type,
    page_ld_types,
    prose_and_links,
)

WEIGHTS = Path(__file__).with_name("pagetype_weights.npz")
#: when the model is less sure than this, a page whose JSON-LD declares an article (and no list,
#: product or thread) is an article
SURE = 0.5
ARTICLE_LD = frozenset({"Article", "NewsArticle", "BlogPosting", "ReportageNewsArticle", "AnalysisNewsArticle",
                        "OpinionNewsArticle", "ScholarlyArticle"})
NOT_ARTICLE_LD = frozenset({"ItemList", "CollectionPage", "Product", "ProductGroup", "QAPage",
                            "DiscussionForumPosting", "SearchResultsPage"})
BUCKETS = 1 << 14
_WORDS = re.compile(r"[a-z]{3,}")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_TAGS = ("article", "section", "form", "table", "pre", "code", "li", "h1", "h2", "h3", "aside", "nav", "button",
         "input", "img", "time", "p", "blockquote", "dl", "select", "iframe", "svg")
_TITLE = etree.XPath("//head/title//text()|//meta[@name='description']/@content", smart_strings=False)


def _bucket(n: float) -> int:
    return 0 if n <= 0 else 1 + int(math.log2(n))


def page_features(root: HtmlElement, html: str, url: str | None, attrs: PageAttrs | None = None) -> list[str]:
    """The page's feature strings (module docstring); ``attrs``: the page's class/id values when
    already collected."""
    return _features_and_ld_types(root, html, url, attrs)[0]


def _features_and_ld_types(root: HtmlElement, html: str, url: str | None,
                           attrs: PageAttrs | None = None) -> tuple[list[str], frozenset[str]]:
    attrs = attrs or PageAttrs.of(root)
    p_words, links = prose_and_links(root)
    feats = [f"url:{_url_type(url)}", f"dom:{_dom_type(root, html, (p_words, links), attrs.classes)}"]
    types = page_ld_types(html)
    structured = _structured_type(root, html, types)
    feats.append(f"rule:{structured[0] if structured else None}")
    feats += [f"ld:{t}" for t in types]
    if url:
        feats += [f"u:{w}" for w in _WORDS.findall(re.sub(r"^[a-z]+://[^/]+", "", url.lower()))]
    words = Counter(_WORDS.findall(_CAMEL.sub(" ", " ".join(attrs.classes + attrs.ids)).lower()))
    feats += [f"c:{w}" for w in words] + [f"c:{w}:{_bucket(n)}" for w, n in words.items() if n >= 3]
    counts = Counter(el.tag for el in root.iter(*_TAGS))
    feats += [f"t:{t}:{_bucket(counts.get(t, 0))}" for t in _TAGS]
    feats += [f"pw:{_bucket(p_words)}", f"ln:{_bucket(links)}", f"lr:{_bucket(10 * links / max(p_words, 1))}"]
    feats += [f"w:{w}" for w in set(_WORDS.findall(" ".join(_TITLE(root)[:3]).lower()))]
    return feats, types


def _ids(feats: list[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh32_intdigest(f.encode()) % BUCKETS for f in feats), dtype=np.int64)


@lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray] | None:
    if not WEIGHTS.exists():
        return None
    data = np.load(WEIGHTS)
    return data["weight"].astype(np.float32), data["bias"].astype(np.float32)


def predict_page_type(root: HtmlElement, html: str, url: str | None = None,
                      attrs: PageAttrs | None = None) -> PageType:
    """The learned model's type (``source`` ``model``); the rules' when no weights ship."""
    model = _load()
    if model is None:
        from mimo.data.extract.pagetype import classify_page

        return classify_page(root, html, url)
    weight, bias = model
    feats, types = _features_and_ld_types(root, html, url, attrs)
    logits = weight[np.unique(_ids(feats))].sum(axis=0) + bias
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = int(np.argmax(probs))
    if probs[best] < SURE and types & ARTICLE_LD and not types & NOT_ARTICLE_LD:
        return PageType("article", "json-ld", float(probs[PAGE_TYPES.index("article")]))
    return PageType(PAGE_TYPES[best], "model", float(probs[best]))


def train(rows: list[tuple[list[str], int]], epochs: int = 60, lr: float = 0.05, l2: float = 0.03,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression over hashed features (full-batch Adam in torch; seconds on CPU)."""
    import torch

    torch.manual_seed(seed)
    embed = torch.nn.EmbeddingBag(BUCKETS, len(PAGE_TYPES), mode="sum")
    torch.nn.init.zeros_(embed.weight)
    bias = torch.zeros(len(PAGE_TYPES), requires_grad=True)
    ids = [torch.from_numpy(np.unique(_ids(f))) for f, _ in rows]
    offsets = torch.tensor([0] + [len(i) for i in ids[:-1]]).cumsum(0)
    flat = torch.cat(ids)
    labels = torch.tensor([y for _, y in rows])
    counts = torch.bincount(labels, minlength=len(PAGE_TYPES)).float()
    class_weight = counts.sum() / (len(PAGE_TYPES) * counts.clamp(min=1))  # rare types count as much
    opt = torch.optim.Adam([embed.weight, bias], lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        logits = embed(flat, offsets) + bias
        loss = torch.nn.functional.cross_entropy(logits, labels, weight=class_weight)
        loss = loss + l2 * embed.weight.pow(2).sum()
        loss.backward()
        opt.step()
    return embed.weight.detach().numpy(), bias.detach().numpy()


def site_of(url: str | None) -> str:
    """The host of ``url`` without ``www.`` (the unit of the held-out split)."""
    return re.sub(r"^www\.", "", (url or "").split("/")[2] if url and "://" in url else "")


def held_out(site: str, fraction: float = 0.2) -> bool:
    """The deterministic held-out part: whole sites, about ``fraction`` of them."""
    return xxhash.xxh32_intdigest(site.encode()) % 1000 < fraction * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Train the page-type model on the WCXB development split.")
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--wcxb", default=str(Path(__file__).resolve().parents[3].parent / "shared/benchmarks/wcxb-dev"))
    ap.add_argument("--out", default=str(WEIGHTS))
    args = ap.parse_args(argv)
    if not args.train:
        ap.error("nothing to do (--train)")
    from mimo.data.extract.pagetype_data import load_wcxb_features

    data = load_wcxb_features(Path(args.wcxb))
    fit = [(f, PAGE_TYPES.index(t)) for f, t, site in data if not held_out(site)]
    test = [(f, PAGE_TYPES.index(t)) for f, t, site in data if held_out(site)]
    weight, bias = train(fit)

    def accuracy(rows: list[tuple[list[str], int]]) -> float:
        hits = sum(int(np.argmax(weight[np.unique(_ids(f))].sum(0) + bias)) == y for f, y in rows)
        return hits / max(len(rows), 1)

    report = {"train_pages": len(fit), "held_out_pages": len(test), "train_accuracy": round(accuracy(fit), 4),
              "held_out_accuracy": round(accuracy(test), 4), "buckets": BUCKETS, "split": "by site, 20 %"}
    np.savez_compressed(args.out, weight=weight.astype(np.float16), bias=bias.astype(np.float32),
                        report=np.array(json.dumps(report)))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
