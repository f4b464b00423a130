"""Content spread over many blocks: service pages put each offer in its own ``<section>``, and
collection pages put their category text above or below the product grid. Main-content detection
keeps one block; here the other blocks are found and merged.

- :func:`merged_sections`: score every block by its words outside links (one bottom-up pass), take
  blocks down to a share of the best score, skip blocks inside or around a block already taken, and
  join them in page order.
- :func:`category_intro`: the longest category/SEO text block of a collection page.
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

_WS = re.compile(r"\s+")
_SKIP_TAGS = frozenset({"nav", "header", "footer", "aside", "form", "script", "style", "noscript",
                        "template", "svg", "button", "select", "iframe"})
_CHROME_WORDS = ("nav", "menu", "footer", "header", "breadcrumb", "sidebar", "cookie", "consent",
                 "newsletter", "subscribe", "modal", "popup", "drawer", "banner-top", "skip")
_BLOCKS = ("div", "section", "article", "main")
MIN_CHARS = 50
CHROME_MAX_SHARE = 0.5  # a chrome-named wrapper holding more of the body's text than this is the page
MAX_COVER = 0.85  # a block covering more of the body than this is the page, not a section
MIN_SCORE_SHARE = 0.2
MAX_CHARS = 15_000
_INTRO_WORDS = ("category-description", "collection-description", "seo-text", "seo-content",
                "seotext", "categoryseotext", "cms-block", "collection-hero", "category-intro",
                "category-text", "collection__description", "category__description", "term-description")
#: any class or id starting with "seo" (seo-copy, seoFooterCopy, field-seofootercopy)
_SEO_ATTR = re.compile(r"(?:^|[\s-])seo")


_CHROME_RE = re.compile("|".join(map(re.escape, _CHROME_WORDS)))


def _is_chrome(el: HtmlElement) -> bool:
    if el.tag in _SKIP_TAGS:
        return True
    attrs = f"{el.get('class') or ''} {el.get('id') or ''} {el.get('role') or ''}".lower()
    return _CHROME_RE.search(attrs) is not None or el.get("aria-hidden") == "true"


def _flags(top: HtmlElement, total: int | None = None) -> dict[HtmlElement, tuple[bool, bool]]:
    """(inside chrome, inside a link) for every element under ``top``, in one pre-order pass. With
    ``total`` (the characters of ``top``'s text), a wrapper whose class or id names chrome but that
    holds more than ``CHROME_MAX_SHARE`` of them is the page itself (``flex-wrap-footer``,
    ``article-header`` around a whole article), not chrome."""
    flags = {top: (False, top.tag == "a")}
    for el in top.iterdescendants():
        if not isinstance(el.tag, str):
            continue
        chrome, link = flags.get(el.getparent(), (False, False))
        if not chrome and _is_chrome(el):
            chrome = total is None or el.tag in _SKIP_TAGS or _chars(el) <= CHROME_MAX_SHARE * total
        flags[el] = (chrome, link or el.tag == "a")
    return flags


def _chars(el: HtmlElement) -> int:
    return sum(map(len, map(str.strip, el.itertext())))


def _block_stats(top: HtmlElement, flags: dict) -> dict[HtmlElement, list[int]]:
    """[chars, words outside links] of every non-chrome element, summed bottom-up."""
    stats: dict[HtmlElement, list[int]] = {}
    for el in reversed(list(flags)):
        chrome, link = flags[el]
        if chrome:
            continue
        own = stats.setdefault(el, [0, 0])
        if el.text and el.text.strip():
            own[0] += len(el.text.strip())
            own[1] += 0 if link else len(el.text.split())
        parent = el.getparent()
        if el is top or parent not in flags or flags[parent][0]:
            continue
        up = stats.setdefault(parent, [0, 0])
        up[0] += own[0]
        up[1] += own[1]
        if el.tail and el.tail.strip():
            up[0] += len(el.tail.strip())
            up[1] += 0 if flags[parent][1] else len(el.tail.split())
    return stats


def block_lines(el: HtmlElement, flags: dict | None = None) -> list[str]:
    """The block's text lines outside chrome, in page order."""
    flags = flags if flags is not None else _flags(el)
    lines: list[str] = []
    for event, node in etree.iterwalk(el, events=("start", "end")):
        if not isinstance(node.tag, str):
            continue
        if event == "start":
            if not flags.get(node, (True,))[0] and node.text and node.text.strip():
                lines.append(_WS.sub(" ", node.text).strip())
        elif node is not el and node.tail and node.tail.strip() \
                and not flags.get(node.getparent(), (True,))[0]:
            lines.append(_WS.sub(" ", node.tail).strip())
    return lines


def merged_sections(root: HtmlElement) -> str:
    """The page's content blocks joined in page order (``""`` when none qualifies)."""
    body = root.find("body")
    if body is None:
        return ""
    total = max(1, _chars(body))  # chrome included
    flags = _flags(body, total)
    stats = _block_stats(body, flags)
    order = {el: i for i, el in enumerate(flags)}
    scored = [(score, el) for el, (chars, score) in stats.items()
              if el.tag in _BLOCKS and el is not body and MIN_CHARS <= chars <= MAX_COVER * total and score > 0]
    if not scored:
        return ""
    scored.sort(key=lambda s: -s[0])
    floor = MIN_SCORE_SHARE * scored[0][0]
    taken: list[HtmlElement] = []
    size = 0
    for score, el in scored:
        if score < floor or size >= MAX_CHARS:
            break
        if any(t in taken for t in el.iterancestors()) or any(d in taken for d in _taken_below(el, taken)):
            continue
        taken.append(el)
        size += stats[el][0]
    taken.sort(key=order.__getitem__)
    return "\n\n".join("\n".join(block_lines(el, flags)) for el in taken)


def _taken_below(el: HtmlElement, taken: list[HtmlElement]) -> list[HtmlElement]:
    return [t for t in taken if el in set(t.iterancestors())]


def category_intro(root: HtmlElement) -> str:
    """The longest category/SEO text block (at least 10 words), or ``""``."""
    best = ""
    for el in root.iter(*_BLOCKS, "p"):
        attrs = f"{el.get('class') or ''} {el.get('id') or ''}".lower().replace("_", "-")
        if any(w in attrs for w in _INTRO_WORDS) or _SEO_ATTR.search(attrs):
            text = "\n".join(block_lines(el))
            if len(text.split()) >= 10 and len(text) > len(best):
                best = text
    return best
