"""Cheap boilerplate pruning before trafilatura (cookie/consent banners, share bars, newsletter
boxes) and removal of a leading headline that duplicates the page title."""

from __future__ import annotations

import re
from collections import Counter

from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.attrs import PageAttrs

_WS = re.compile(r"\s+")


def _norm(s: str) -> str:
    return _WS.sub(" ", s).strip().casefold()


_BANNER_WORDS = frozenset({"cookie", "cookies", "consent", "gdpr", "cookiebanner", "cookieconsent",
                           "subscribe", "newsletter", "signature", "signaturecontainer", "postprofile"})
_SPLIT = re.compile(r"[\s_-]+")
_KEEP_TAGS = frozenset({"html", "body", "article", "main"})
_CLASS_ID_XPATH = etree.XPath("//@class|//@id")
_CLASS_XPATH = etree.XPath("//@class")
_BANNER_HINT_RE = re.compile("cookie|consent|gdpr|subscribe|newsletter|signature|postprofile")


def _detach(el: HtmlElement) -> None:
    """Remove ``el`` but keep its tail text."""
    parent = el.getparent()
    if parent is None:
        return
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)


def prune_boilerplate(root: HtmlElement, attrs: PageAttrs | None = None) -> int:
    """Remove cookie/consent banners, subscribe/newsletter boxes and forum signatures/profiles (by
    class/id words) that are not the page body; returns how many were removed. Other boilerplate
    is left to trafilatura, which handles it well. ``attrs``: the page's class/id values, collected
    here when not given."""
    attrs = attrs if attrs is not None else PageAttrs.of(root)
    if not _BANNER_HINT_RE.search(attrs.text.lower()):
        return 0
    doomed = []
    for attr in _CLASS_ID_XPATH(root):
        low = attr.lower()
        if not _BANNER_HINT_RE.search(low):
            continue
        el = attr.getparent()
        if el is None or el.tag in _KEEP_TAGS or not set(_SPLIT.split(low)) & _BANNER_WORDS:
            continue
        doomed.append(el)
    n = 0
    for el in doomed:
        if el.getparent() is None or el.find(".//article") is not None or el.find(".//main") is not None:
            continue
        if len(el.text_content()) < 2000:
            _detach(el)
            n += 1
    return n


_DISPLAY_NONE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_TAB_PANELS = etree.XPath("//*[@role='tabpanel']")


def reveal_tab_panels(root: HtmlElement) -> int:
    """Unhide the panels of tab groups (``role="tabpanel"`` with ``hidden``, ``aria-hidden`` or
    ``display: none``): the other tabs of a docs page hold the same example in other languages, which
    trafilatura drops as hidden. Returns how many panels were unhidden."""
    n = 0
    for panel in _TAB_PANELS(root):
        hidden = panel.get("aria-hidden") == "true" or panel.get("hidden") is not None
        panel.attrib.pop("aria-hidden", None)
        panel.attrib.pop("hidden", None)
        style = panel.get("style")
        if style and _DISPLAY_NONE.search(style):
            panel.set("style", _DISPLAY_NONE.sub("", style))
            hidden = True
        n += hidden
    return n


_NAV_CELL = re.compile("nav|menu|sidebar")


def prune_navigation_cells(root: HtmlElement) -> int:
    """Remove the navigation column of a layout table (a ``<td>`` whose class/id says nav, menu or
    sidebar, beside a cell with more text); returns how many were removed. trafilatura drops link
    lists, but keeps the notes under them."""
    doomed = []
    for cell in root.iter("td"):
        attrs = f"{cell.get('id') or ''} {cell.get('class') or ''}".lower()
        if len(attrs) < 4 or not _NAV_CELL.search(attrs):
            continue
        others = [len(s.text_content()) for s in (*cell.itersiblings("td"), *cell.itersiblings("td", preceding=True))]
        if others and max(others) > len(cell.text_content()):
            doomed.append(cell)
    for cell in doomed:
        _detach(cell)
    return len(doomed)


_ADDRESS = etree.XPath("//body//address")


def prune_address_blocks(root: HtmlElement) -> int:
    """Remove ``<address>`` blocks (the author's or site's contact line under a page); returns how many."""
    blocks = _ADDRESS(root)
    for block in blocks:
        block.drop_tree()
    return len(blocks)


SPLIT_GAP_CHARS = 1000  # more text than this between chunks: blocks of the page, not a body split by ads
_BODY_CLASS = re.compile(r"(?:article|post|story|entry)[-_]{0,2}(?:body|content|text)", re.IGNORECASE)


def merge_split_bodies(root: HtmlElement, attrs: PageAttrs | None = None) -> int:
    """Join an article body split into sibling chunks (same body-like class, same grandparent;
    ads between them) into the first chunk, so that the main-content detector keeps all of it.
    Chunks that each sit in their own ``<article>`` are the items of a list, and stay apart; so do
    chunks with more than ``SPLIT_GAP_CHARS`` of other text between them (the blocks of a page built
    from blocks, where moving some would reorder the page)."""
    counts = Counter((attrs if attrs is not None else PageAttrs.of(root)).classes)
    wanted = {c for c, n in counts.items() if n >= 2 and _BODY_CLASS.search(c)}
    if not wanted:
        return 0
    groups: dict[tuple[str, HtmlElement], list[HtmlElement]] = {}  # keys hold the grandparents alive
    for attr in _CLASS_XPATH(root):
        if attr in wanted:
            el = attr.getparent()
            parent = el.getparent() if el is not None else None
            grand = parent.getparent() if parent is not None else None
            if grand is not None and parent.tag != "article":  # each chunk in its own <article>: items
                groups.setdefault((str(attr), grand), []).append(el)
    return sum(_merge(members) for members in groups.values() if _text_between(members) <= SPLIT_GAP_CHARS)


def _text_between(members: list[HtmlElement]) -> int:
    """Characters of text in the grandparent's children between the first and the last chunk's
    parent (the chunks' own parents excluded)."""
    grand = members[0].getparent().getparent()
    kids = list(grand)
    own = {i for i, kid in enumerate(kids) if any(m.getparent() is kid for m in members)}
    if not own:
        return 0
    return sum(len(kids[i].text_content().strip()) for i in range(min(own), max(own) + 1)
               if i not in own and isinstance(kids[i].tag, str))


def _merge(members: list[HtmlElement]) -> int:
    if len(members) < 2:
        return 0
    first, merged = members[0], 0
    for other in members[1:]:
        if other.getparent() is None or first in set(other.iterancestors()) \
                or other in set(first.iterancestors()):
            continue
        if other.text and other.text.strip():
            if len(first):
                first[-1].tail = (first[-1].tail or "") + " " + other.text
            else:
                first.text = (first.text or "") + " " + other.text
        for child in list(other):
            first.append(child)
        _detach(other)
        merged += 1
    return merged


def headline_candidates(root: HtmlElement, title: str | None) -> list[str]:
    """Normalised headline strings of the page: <h1> texts, og:title and <title>."""
    cands = [_norm(h.text_content()) for h in root.iter("h1")][:5]
    cands += [_norm(str(x)) for x in root.xpath("//meta[@property='og:title']/@content|//head/title//text()")[:3]]
    if title:
        cands.append(_norm(title))
    return [c for c in cands if c]


def _strip_headline(line: str, heads: list[str]) -> str | None:
    """``line`` without a leading headline, or None when ``line`` does not start with one."""
    norm = _norm(line)
    for cand in heads:
        if norm == cand or (len(norm) >= 15 and norm in cand):
            return ""
        if len(cand) >= 15 and norm.startswith(cand):
            rest = line.strip()
            cut = len(cand)  # casefold/whitespace changes are rare in headlines: map by words
            words = cand.split()
            parts = rest.split()
            if [w.casefold() for w in parts[:len(words)]] == words:
                return " ".join(parts[len(words):]).lstrip(" -|:–—")
            return rest[cut:].lstrip(" -|:–—")
    return None


def drop_headline(text: str, heads: list[str]) -> str:
    """Remove the page headline (kept as ``title``) from the start of ``text``, with short
    kicker/category lines above it; a headline glued to the first paragraph is cut off."""
    lines = text.split("\n")
    seen = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if len(line) <= 400:
            rest = _strip_headline(line.lstrip(" |-"), heads)
            if rest is not None:
                if all(len(prev.strip()) < 40 for prev in lines[:i]):
                    return "\n".join(([rest] if rest else []) + lines[i + 1:])
                return "\n".join(lines[:i] + ([rest] if rest else []) + lines[i + 1:])
        seen += 1
        if seen >= 3:
            break
    return text


_BOILER_LINE = re.compile(
    r"^\W{0,3}(?:related(?: posts?| articles?| stories| content| coverage)?\s*:|read more\s*:|see more\s*:|"
    r"see also\s*:|more\s*:|also read\s*:|you (?:may|might) also like|recommended for you|"
    r"don'?t miss|sign up\b|subscribe (?:to|for)\b|follow us\b|share (?:this|it) with|"
    r"like this (?:story|article)|advertisement$|pin (?:it|this)(?: for later)?\W{0,3}$|"
    r"this page has been (?:visited|viewed|accessed)\b|you are visitor\b)",
    re.IGNORECASE,
)


def page_urls(root: HtmlElement, url: str | None) -> set[str]:
    """The page's own URL(s): the given one, canonical link and og:url."""
    found = {str(u).strip() for u in root.xpath("//link[@rel='canonical']/@href|//meta[@property='og:url']/@content")}
    if url:
        found.add(url)
    return {u for u in found if u}


def drop_boilerplate_lines(text: str, own_urls: set[str] | None = None) -> str:
    """Drop short navigation/promotion lines ("Related: ...", "Sign up ...") and lines that are
    just the page's own URL (share/permalink widgets)."""
    own = own_urls or set()
    kept = []
    for line in text.split("\n"):
        s = line.strip()
        if s and len(s) < 200 and (_BOILER_LINE.match(s) or s in own):
            continue
        kept.append(line)
    return "\n".join(kept)


def drop_repeated_lines(text: str, min_chars: int = 40) -> str:
    """Keep only the first copy of each line of at least ``min_chars`` characters (a reply quoting an
    earlier post, a card repeated by a carousel); shorter lines (labels, prices) may repeat."""
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        s = line.strip()
        if len(s) >= min_chars:
            if s in seen:
                continue
            seen.add(s)
        kept.append(line)
    return "\n".join(kept)


_INTERFACE_LINE = re.compile(
    r"^\W*(?:sort(?: by)?|filters?|filter (?:&|and) sort|refine(?: by)?|quick ?view|compare|"
    r"add to (?:cart|bag|basket|wish ?list|favorites)|(?:show|load|view|see) (?:more|all|less)|sign in|log ?in|"
    r"register|loading\.*|skip to (?:main )?content|skip to search results|sponsored|(?:sale|regular|original) price|"
    r"select options|choose options|sold out|in stock|out of stock|best match|top rated|best ?sellers?|"
    r"new arrivals?|free shipping|all categories|related searches|shop now|wishlist|clear all|apply|reset|"
    r"results?|items?)\W*$",
    re.IGNORECASE,
)


def drop_interface_lines(text: str) -> str:
    """Drop lines that are only a shop's interface label ("Quick view", "Add to cart", "Sort by",
    "Sale price"): the buttons and filters around a product or a grid of products."""
    return "\n".join(line for line in text.split("\n") if not _INTERFACE_LINE.match(line.strip()))


_TAG_LABEL = re.compile(r"^\W*(?:tags?|tagged(?: with| as| in)?|keywords?|topics?|categories|filed under|related topics|"
                        r"etiquetas|schlagwörter|mots-clés)\s*:?\s*(.*)$", re.IGNORECASE)
_LIST_SEPARATOR = re.compile(r"\s*[,|;·•]\s*")


def _is_tag_list(line: str) -> bool:
    """Two or more items of four words or less, separated by commas, bars or bullets."""
    items = [item for item in _LIST_SEPARATOR.split(line) if item.strip()]
    return len(items) >= 2 and sum(len(item.split()) for item in items) <= 4 * len(items)


def drop_tag_lists(text: str) -> str:
    """Drop a post's tag list: "Tags: a, b, c", or a "Tags" line followed by such a list."""
    lines = text.split("\n")
    kept, i = [], 0
    while i < len(lines):
        label = _TAG_LABEL.match(lines[i].strip())
        if label and label.group(1):
            if _is_tag_list(label.group(1)):
                i += 1
                continue
        elif label:
            j = i + 1
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _is_tag_list(lines[j].strip()):
                i = j + 1
                continue
        kept.append(lines[i])
        i += 1
    return "\n".join(kept)
