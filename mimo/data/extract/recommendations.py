"""Recommendation blocks removed before the main-content pass: carousels of other products ("Customers
who viewed this item also viewed", "Similar items", "You may also like") on every page, teasers of
other articles ("Related stories", "Our latest news", "Most read") on pages that are not lists of
stories themselves, and customer reviews and questions on product pages. On articles, a paragraph,
list item or heading that is nothing but one link to another page ("Hong Kong threatened with
military intervention", a headline without a full stop) is a link to another story and goes too.

A block is found by its heading and grows from it to the largest ancestor that still starts with that
heading (at most ``LEAD_CHARS`` of text before it), holds no ``<h1>`` and under ``MAX_SHARE`` of the
page's text; a teaser block also stops before an ancestor with ``PROSE_SEGMENTS`` paragraphs of prose
(a "Popular posts" box at the top of a post is removed, the post is not), and a reviews block starts
with its heading (a "Description | Reviews" tab bar is not one). Headings hidden by their
style are left alone (an empty placeholder heading may sit at the top of the article itself).
"""

from __future__ import annotations

import re

from lxml import etree
from lxml.html import HtmlElement

_SHOP = re.compile(
    r"^\W*(?:(?:people|customers|shoppers) (?:who )?(?:also )?(?:viewed|bought|purchased|liked)"
    r"|.{0,30}also (?:viewed|bought|purchased|like|love)"
    r"|you (?:may|might|will) (?:also )?(?:like|love|enjoy|be interested)"
    r"|similar (?:items|products)|related (?:items|products)|recently viewed|frequently bought together"
    r"|more (?:items )?from (?:this|the) (?:seller|shop|store|brand)|seller'?s other items"
    r"|sponsored (?:items|products)|complete the look|pairs well with|explore (?:more|similar))",
    re.IGNORECASE)
_NEWS = re.compile(
    r"^\W*(?:(?:our )?latest (?:stories|news|posts|articles|headlines)"
    r"|more (?:stories|news|articles|posts|headlines)\b"
    r"|recommended (?:for you|stories|reading|articles|posts|videos)"
    r"|related (?:posts|articles|stories|news|reading|content|links|videos)|read (?:next|also)\b"
    r"|(?:most|top) (?:popular|read|viewed|shared)|popular (?:posts|stories|articles|now)"
    r"|trending (?:now|stories|articles|posts)?\W*$|top stories|editor'?s picks|don'?t miss)",
    re.IGNORECASE)
_REVIEWS = re.compile(
    r"^\W*(?:(?:customer|user|product|guest|verified|top|most (?:helpful|recent)|all|read|see all|show all|write a|"
    r"ratings (?:&|and)|[\d,.]+)?\s*reviews?\b|customers say|what (?:our )?customers (?:are saying|say)|testimonials?|"
    r"questions? (?:&|and) answers?|customer questions|q ?& ?a\b|ratings? (?:&|and) reviews?)",
    re.IGNORECASE)
#: page types whose teasers of other stories are not their content (lists and collections are made of them)
NEWS_KINDS = frozenset({"article", "service", "documentation", "forum", "product"})
#: page types whose customer reviews and questions are not their content
REVIEW_KINDS = frozenset({"product"})
LEAD_CHARS = 40  # a block starts with its heading: at most this much text before it
REVIEWS_LEAD_CHARS = 0  # a reviews block starts with its heading (not a "Description | Reviews" tab bar)
MAX_SHARE = 0.3  # a block holds less than this share of the page's text
PROSE_WORDS, PROSE_SEGMENTS = 40, 3  # a teaser block stops below this many distinct paragraphs of prose
#: page types whose paragraphs made of one link are links to other stories
LINK_LINE_KINDS = frozenset({"article"})
LINK_LINE_MIN_WORDS = 4  # shorter link lines are labels and menus (left to trafilatura)
_LINK_LINE_TAGS = ("p", "li", "h2", "h3", "h4", "h5", "h6")
_SENTENCE_END = (".", "!", "?", ":")
_HEADING_TAGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6", "span", "div", "p", "strong", "b", "button", "a",
                           "section"})
_HIDDEN = re.compile(r"visibility\s*:\s*hidden|display\s*:\s*none", re.IGNORECASE)
_TEXTS = etree.XPath("//body//text()[string-length(normalize-space()) > 3 and string-length(normalize-space()) < 80]")
#: a word that every heading above has (a cheap test before the element's whole text is read)
_KEYWORD = re.compile(r"also|similar|related|recent|frequent|from|other|sponsored|look|pairs|explore|latest|more|"
                      r"recommend|read|popular|top|trending|pick|miss|review|say|testimonial|question|q ?&")  # lower case:
# searching the lower-cased text is six times faster than an IGNORECASE search
_H1 = etree.XPath(".//h1")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _block_kind(label: str, kind: str | None) -> str | None:
    """``shop``, ``teaser`` or ``reviews`` when ``label`` heads such a block on a page of type ``kind``."""
    if _SHOP.match(label):
        return "shop"
    if kind in NEWS_KINDS and _NEWS.match(label):
        return "teaser"
    if kind in REVIEW_KINDS and _REVIEWS.match(label):
        return "reviews"
    return None


def _headings(root: HtmlElement, kind: str | None) -> list[tuple[HtmlElement, str]]:
    """(heading element, block kind) for every recommendation or reviews heading of the page."""
    found: dict[HtmlElement, str] = {}
    for text in _TEXTS(root):
        el = text.getparent() if text.is_text and _KEYWORD.search(text.lower()) else None
        if el is None or el in found:
            continue
        while el is not None and el.tag in _HEADING_TAGS and len(el) <= 3:
            label = _squash(el.text_content())
            if not 3 < len(label) < 80:
                break
            block = _block_kind(label, kind)
            if block:
                if not any(_HIDDEN.search(x.get("style") or "") for x in el.iter()):
                    found[el] = block
                break
            el = el.getparent()
    return list(found.items())


def _prose(el: HtmlElement) -> bool:
    return len({t.strip() for t in el.itertext() if len(t.split()) > PROSE_WORDS}) >= PROSE_SEGMENTS


def _block_of(heading: HtmlElement, total: int, block: str) -> HtmlElement:
    """The largest ancestor of ``heading`` that is still its block (module docstring)."""
    label = heading.text_content().strip()
    lead = REVIEWS_LEAD_CHARS if block == "reviews" else LEAD_CHARS
    node = heading
    while True:
        parent = node.getparent()
        if parent is None or parent.tag in ("body", "html"):
            return node
        text = parent.text_content().lstrip()
        if _H1(parent) or len(text) > MAX_SHARE * total or text.find(label) > lead:
            return node
        if block == "teaser" and _prose(parent):
            return node
        node = parent


def _link_lines(root: HtmlElement) -> list[HtmlElement]:
    """Paragraphs, list items and headings whose whole text is one link to another page, at least
    ``LINK_LINE_MIN_WORDS`` words long and not ending like a sentence."""
    found = []
    for el in root.iter(*_LINK_LINE_TAGS):
        links = el.findall(".//a")
        href = (links[0].get("href") or "").strip() if len(links) == 1 else ""
        if not href or href.startswith("#"):  # no link, several, or one within the page
            continue
        text = _squash(el.text_content())
        if len(text.split()) >= LINK_LINE_MIN_WORDS and text == _squash(links[0].text_content()) \
                and not text.endswith(_SENTENCE_END):
            found.append(el)
    return found


def prune_recommendations(root: HtmlElement, kind: str | None) -> int:
    """Remove the recommendation blocks (on product pages also reviews, on articles also lines that are
    one link to another story) of a page of type ``kind``; returns how many were removed."""
    removed = 0
    if kind in LINK_LINE_KINDS:
        for line in _link_lines(root):
            if line.getparent() is not None:
                line.drop_tree()
                removed += 1
    headings = _headings(root, kind)
    if not headings:
        return removed
    body = root.find("body")
    total = len((body if body is not None else root).text_content())
    for heading, block_kind in headings:
        block = _block_of(heading, total, block_kind)
        if block.getparent() is not None:
            block.drop_tree()
            removed += 1
    return removed
