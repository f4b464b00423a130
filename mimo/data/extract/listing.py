"""Repeated items of listing and collection pages: main-content detectors keep one card; here every
card of the largest group of like siblings is kept (title, byline, summary)."""

from __future__ import annotations

import re
from collections import defaultdict

from lxml.html import HtmlElement

_WS = re.compile(r"\s+")
_CHROME = frozenset({"nav", "header", "footer", "aside", "form", "script", "style", "noscript", "template", "svg"})
_CHROME_WORDS = ("nav", "menu", "footer", "header", "breadcrumb", "sidebar", "cookie", "filter", "facet", "pagination")
MIN_ITEMS = 3
MIN_ITEM_WORDS = 8


def _signature(el: HtmlElement) -> tuple[str, str]:
    cls = (el.get("class") or "").split()
    return el.tag, cls[0] if cls else ""


def _in_chrome(el: HtmlElement) -> bool:
    for node in [el, *el.iterancestors()]:
        if node.tag in _CHROME:
            return True
        attrs = f"{node.get('class') or ''} {node.get('id') or ''}".lower()
        if any(w in attrs for w in _CHROME_WORDS):
            return True
    return False


def item_text(el: HtmlElement) -> str:
    """One item's text: its text nodes, one line per block, whitespace squashed."""
    parts = [_WS.sub(" ", t).strip() for t in el.itertext() if t and t.strip()]
    return "\n".join(parts)


def repeated_items(root: HtmlElement) -> str:
    """The text of the largest group (by words) of at least ``MIN_ITEMS`` like siblings with at least
    ``MIN_ITEM_WORDS`` words each, outside navigation and footers; ``""`` when there is none."""
    best_words, best = 0, []
    for parent in root.iter():
        if not isinstance(parent.tag, str) or len(parent) < MIN_ITEMS or parent.tag in _CHROME:
            continue
        groups: dict[tuple[str, str], list[HtmlElement]] = defaultdict(list)
        for child in parent:
            if isinstance(child.tag, str) and child.tag not in _CHROME:
                groups[_signature(child)].append(child)
        for members in groups.values():
            if len(members) < MIN_ITEMS:
                continue
            texts = [item_text(m) for m in members]
            sizes = [len(t.split()) for t in texts]
            good = [t for t, n in zip(texts, sizes) if n >= MIN_ITEM_WORDS]
            words = sum(len(t.split()) for t in good)
            if len(good) >= MIN_ITEMS and words > best_words and not _in_chrome(parent):
                best_words, best = words, good
    return "\n\n".join(best)
