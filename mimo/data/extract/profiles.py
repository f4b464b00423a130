"""Extraction by page type: the trafilatura settings and the extra steps that fit each type.

- :func:`typed_config`: typed pages use trafilatura's balanced mode with its fallback extractors
  (better on every WCXB type than the recall-mode single pass), forum threads keep their replies.
- :func:`keep_protected`: an article with math or code whose typed text lost a formula or code block
  takes the recall-mode single pass, which keeps every one of them.
- The fallback extractors (readability, jusText) change the text of about one page in ten; they run
  only when the fast pass keeps under ``FALLBACK_BELOW_COVERAGE`` of the page's visible words, which is
  where they change the result for the better (:mod:`passreuse` spares them the fast pass's work). Their text is taken unless what it adds
  is mostly teasers of other articles (:func:`adds_teasers`).
- A page of menus (:func:`menu_like`) takes the recall pass when that finds prose; a documentation,
  thread or product page whose text covers little of the page takes the recall pass when that is much
  longer (the balanced pass dropped a list, a table or a part of the body: trafilatura's balanced mode
  recovers no list outside the frame it picked); so does an article whose text misses the page's
  prose lists (:func:`drops_prose_lists`; every such article with ``longer_recall``).
- :func:`extract_typed`: after the main-content pass, the text is replaced by the page's merged
  content blocks when those hold more (every section of a service page, every card of a listing,
  every post of a thread; never on articles, and on product pages only when the main text is a
  fragment, since their other blocks are other products); a collection gets its category text, a
  near-empty product page its JSON-LD description.

Every choice is measured per type on the WCXB development split (``bench/bench_extraction.py``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import replace

from lxml.html import HtmlElement

from mimo.data.extract.config import ExtractConfig
from mimo.data.extract.mainpass import run_trafilatura
from mimo.data.extract.passreuse import shared_passes
from mimo.data.extract.sections import category_intro, merged_sections
from mimo.data.extract.structured import json_ld_objects, longest_text

#: trafilatura settings of every typed page, then per type (fields of ExtractConfig)
BASE_SETTINGS: dict[str, bool] = {"favor_recall": False, "fast": False}
SETTINGS: dict[str, dict[str, bool]] = {
    "forum": {"include_comments": True},
}
#: types whose math/code pages take the recall-mode single pass when the typed text loses a formula or code block
PROTECTED_TYPES = ("article",)
#: merged sections replace a main-content text shorter than ``below`` chars when they are
#: ``factor`` times longer (never on articles, where it costs precision on the article benchmark; on products
#: only a fragment is replaced, since their other blocks are other products)
SECTIONS: dict[str, tuple[float, float]] = {
    "service": (1.2, math.inf), "listing": (1.2, math.inf), "collection": (1.2, math.inf),
    "documentation": (1.2, math.inf), "article": (0.0, 0), "product": (5.0, 2000),
}
SECTIONS_DEFAULT = (2.0, 3000)
#: a page typed with less confidence than ``SURE_TYPE`` (often an article taken for a listing) merges
#: its blocks only under the stricter of its type's rule and ``SECTIONS_UNSURE``
SURE_TYPE = 0.5
SECTIONS_UNSURE = (1.5, 3000)
#: types whose text keeps one copy of a repeated long line: quotes of earlier posts in a thread, cards
#: repeated by carousels (on articles and docs a repeated line is more often meant: interview questions,
#: recipe steps)
REPEATS_DROPPED = ("forum", "product", "collection")
#: types whose text loses the lines that are only a shop's interface labels ("Quick view", "Sort by")
INTERFACE_LINES_DROPPED = ("product", "collection", "listing")
PRODUCT_SHORT_CHARS = 100  # a product body shorter than this takes the JSON-LD description
#: the fallback extractors run when the fast pass keeps less than this share of the visible words
FALLBACK_BELOW_COVERAGE = 0.2
#: on these types (and on articles with ``config.longer_recall``) a main text under
#: ``RECALL_BELOW_COVERAGE`` of the page's visible words is compared with the recall pass, which
#: replaces it when ``RECALL_LONGER`` times longer (the balanced pass dropped lists, tables or a part of
#: the body). Articles are off by default: there the extra pass costs about 15 % of the time.
RECALL_TYPES = ("documentation", "forum", "product")
RECALL_BELOW_COVERAGE, RECALL_LONGER = 0.7, 1.2
#: an article's text is compared with the recall pass (as above) when it misses the page's prose lists:
#: ``DROPPED_ITEMS`` list items of ``ITEM_WORDS`` words or more, mostly not link text, not in navigation,
#: header, footer or aside (the nearest landmark decides), whose opening words are not in the text and
#: which hold ``DROPPED_SHARE`` of the text's words (trafilatura's balanced mode recovers no list outside
#: the frame it picked)
DROPPED_ITEMS, ITEM_WORDS, DROPPED_SHARE = 3, 3, 0.2
_CHROME = frozenset({"nav", "header", "footer", "aside"})
_LANDMARKS = _CHROME | {"main", "article"}  # the nearest one decides: a <main> inside a <nav> is content
#: a main text with ``MENU_SHARE`` of its lines ``MENU_WORDS`` words long or less is a menu, not the
#: content: the recall pass replaces it when it finds prose (a line of ``PROSE_WORDS`` words or more)
MENU_SHARE, MENU_WORDS, PROSE_WORDS = 0.8, 3, 40
#: the fast text stays when this share of the lines the fallbacks add are teasers of other articles
TEASER_SHARE = 0.3
_TEASER_END = re.compile(r"(?:…|\.\.\.|\[…\]|\[\.\.\.\]|read more|continue reading|leia mais|saiba mais|weiterlesen|"
                         r"lire la suite|leer más|czytaj dalej|lees meer)\W{0,3}$", re.IGNORECASE)


def typed_config(kind: str, config: ExtractConfig) -> ExtractConfig:
    """The settings for a page of type ``kind``."""
    return replace(config, **BASE_SETTINGS, **SETTINGS.get(kind, {}))


def keep_protected(kind: str, text: str, step: str, root: HtmlElement, url: str | None, config: ExtractConfig,
                   tokens: Collection[str]) -> tuple[str, str]:
    """(text, step): the recall-mode single pass (``config`` untyped) instead of ``text`` when the page
    is of a protected type, ``text`` lost some of the page's formula/code ``tokens``, and that pass
    keeps more of them (step ``recall``)."""
    kept = sum(token in text for token in tokens)
    if kind not in PROTECTED_TYPES or kept == len(tokens):
        return text, step
    recall = run_trafilatura(root, url, config)
    if sum(token in recall for token in tokens) > kept:
        return recall, "recall"
    return text, step


def adds_teasers(text: str, fuller: str) -> bool:
    """True when at least ``TEASER_SHARE`` of the lines that ``fuller`` adds to ``text`` are teasers
    (excerpts cut off with an ellipsis or a "read more" link): other articles, not more of this one."""
    have = set(text.split("\n"))
    added = [line.strip() for line in fuller.split("\n") if line.strip() and line not in have]
    return bool(added) and sum(bool(_TEASER_END.search(line)) for line in added) >= TEASER_SHARE * len(added)


def _recall_pass(root: HtmlElement, url: str | None, config: ExtractConfig) -> str:
    """trafilatura's recall-mode fast pass under ``config``'s other settings."""
    return run_trafilatura(root, url, replace(config, favor_recall=True, favor_precision=False, fast=True))


def main_text(root: HtmlElement, url: str | None, config: ExtractConfig, page_words: int | None) -> str:
    """trafilatura's text under ``config``; with ``page_words`` (the page's visible words) the
    fallback extractors run only when the fast pass covers too little of the page, and a page
    where both find nothing gets the recall pass (its main content may sit in a page header), as does
    a page whose text is a menu (:func:`menu_like`) when the recall pass finds prose."""
    if config.fast or page_words is None:
        return run_trafilatura(root, url, config)
    with shared_passes():  # the pass with fallbacks reuses the fast pass's work
        text = run_trafilatura(root, url, replace(config, fast=True))
        if len(text.split()) < FALLBACK_BELOW_COVERAGE * page_words:
            fuller = run_trafilatura(root, url, config)
            text = text if text.strip() and adds_teasers(text, fuller) else fuller
        if menu_like(text):  # a page of menus around a text that trafilatura did not find
            recall = _recall_pass(root, url, config)
            longest = max((len(line.split()) for line in recall.split("\n")), default=0)
            if longest >= PROSE_WORDS and not menu_like(recall):
                text = recall
    if not text.strip() and page_words:  # nothing found on a page with text: the recall pass decides
        text = _recall_pass(root, url, config)
    return text


def drops_prose_lists(root: HtmlElement, text: str) -> bool:
    """True when ``text`` misses the page's prose list items (``DROPPED_ITEMS``, ``DROPPED_SHARE``)."""
    kept = " ".join(text.split())
    items, words = 0, 0
    for item in root.iter("li"):
        item_words = item.text_content().split()
        if len(item_words) < ITEM_WORDS or " ".join(item_words[:6]) in kept:
            continue
        link_words = sum(len(a.text_content().split()) for a in item.iter("a"))
        landmark = next((a.tag for a in item.iterancestors() if a.tag in _LANDMARKS), None)
        if link_words < 0.5 * len(item_words) and landmark not in _CHROME:
            items, words = items + 1, words + len(item_words)
    return items >= DROPPED_ITEMS and words >= DROPPED_SHARE * len(text.split())


def _compares_recall(kind: str, root: HtmlElement, text: str, config: ExtractConfig, page_words: int | None) -> bool:
    """True when ``text`` covers under ``RECALL_BELOW_COVERAGE`` of the page and is of a ``RECALL_TYPES``
    page, or of an article that misses its prose lists (any such article with ``longer_recall``)."""
    if not page_words or len(text.split()) >= RECALL_BELOW_COVERAGE * page_words:
        return False
    if kind in RECALL_TYPES:
        return True
    return kind == "article" and (config.longer_recall or drops_prose_lists(root, text))


def menu_like(text: str) -> bool:
    """True when at least ``MENU_SHARE`` of the text's lines are ``MENU_WORDS`` words long or less."""
    lines = [line for line in text.split("\n") if line.strip()]
    return bool(lines) and sum(len(line.split()) <= MENU_WORDS for line in lines) >= MENU_SHARE * len(lines)


def sections_rule(kind: str, confidence: float = 1.0) -> tuple[float, float]:
    """(factor, below): merged blocks replace a main text shorter than ``below`` chars when they are
    ``factor`` times longer; ``(0, 0)`` never merges."""
    factor, below = SECTIONS.get(kind, SECTIONS_DEFAULT)
    if factor > 0 and confidence < SURE_TYPE:  # the stricter of the type's rule and the unsure one
        return max(factor, SECTIONS_UNSURE[0]), min(below, SECTIONS_UNSURE[1])
    return factor, below


def extract_typed(kind: str, root: HtmlElement, url: str | None, config: ExtractConfig,
                  page_words: int | None = None, confidence: float = 1.0) -> tuple[str, str]:
    """The page's text and which step decided (``main``, ``recall``, ``sections``, ``json-ld``);
    ``root`` is the protected tree (trafilatura does not change it, so the steps read it after).
    ``page_words``: the page's visible words, which gate the fallback extractors (:func:`main_text`);
    ``confidence``: the page type's probability, which picks the merge rule (``SURE_TYPE``)."""
    text, step = main_text(root, url, config, page_words), "main"
    if _compares_recall(kind, root, text, config, page_words):
        recall = _recall_pass(root, url, config)
        if len(recall.split()) > RECALL_LONGER * len(text.split()):
            text, step = recall, "recall"
    factor, below = sections_rule(kind, confidence)
    if len(text) < below:
        sections = merged_sections(root)
        if len(sections) > factor * len(text):
            text, step = sections, "sections"
    if kind == "product" and len(text) < PRODUCT_SHORT_CHARS:
        objects, _ = json_ld_objects(root)
        described = longest_text(objects, {"Product", "ProductGroup", "SoftwareApplication"}, "description")
        if len(described) > len(text):
            text, step = described, "json-ld"
    if kind == "collection":
        intro = category_intro(root)
        if intro and intro[:60] not in text:
            text = intro + "\n\n" + text
    return text, step
