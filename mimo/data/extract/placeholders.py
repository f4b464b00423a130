"""Placeholder tokens: math/code elements are swapped for opaque words before trafilatura runs
and the exact LaTeX/code is put back into its output afterwards."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from lxml.html import HtmlElement

_BLOCK_PARENTS = frozenset({
    "body", "div", "section", "article", "main", "td", "th", "li", "blockquote", "figure",
    "dd", "details", "aside", "header", "footer", "form", "center", "table", "tbody", "tr",
})


@dataclass
class Item:
    """One protected fragment: ``kind`` is "math" or "code"; ``text`` is what is restored."""

    kind: str
    text: str
    block: bool


@dataclass
class PlaceholderTable:
    """Tokens issued for one document, and their replacement text."""

    prefix: str = "MIMOPH"
    items: dict[str, Item] = field(default_factory=dict)

    @classmethod
    def for_document(cls, html: str) -> PlaceholderTable:
        """A table whose token prefix does not occur in ``html``."""
        prefix = "MIMOPH"
        while prefix in html:
            prefix = "MIMOPH" + secrets.token_hex(3).upper()
        return cls(prefix=prefix)

    def new(self, kind: str, text: str, block: bool) -> str:
        """Register a fragment; returns its token (letters and digits only: survives extraction)."""
        token = f"{self.prefix}{len(self.items):04d}X"
        self.items[token] = Item(kind, text, block)
        return token

    def restore(self, text: str) -> tuple[str, int, int]:
        """Put fragments back into ``text``; returns (text, formulas found, code blocks found)."""
        if not self.items:
            return text, 0, 0
        found = {"math": 0, "code": 0}
        pattern = re.compile(rf"[ \t]*{self.prefix}\d{{4}}X[ \t]*")

        def sub(m: re.Match[str]) -> str:
            raw = m.group(0)
            item = self.items.get(raw.strip())
            if item is None:
                return raw
            found[item.kind] += 1
            if not item.block:
                return raw.replace(raw.strip(), item.text)
            # block fragment: on its own line(s)
            start, end = m.start(), m.end()
            before = "" if start == 0 or text[start - 1] == "\n" else "\n"
            after = "" if end == len(text) or text[end] == "\n" else "\n"
            return f"{before}{item.text}{after}"

        return pattern.sub(sub, text), found["math"], found["code"]


def replace_inline(el: HtmlElement, token: str) -> None:
    """Replace ``el`` (and its subtree) by ``token`` as text, keeping its tail."""
    parent = el.getparent()
    if parent is None:
        return
    text, tail = token, el.tail or ""
    prev = el.getprevious()
    if prev is not None:
        prev.tail = (prev.tail or "") + text + tail
    else:
        parent.text = (parent.text or "") + text + tail
    parent.remove(el)


def replace_block(el: HtmlElement, token: str) -> None:
    """Replace ``el`` by a paragraph holding ``token`` (inline when the parent is inline; a custom
    element, ``<copyable-code>``, counts as a block)."""
    parent = el.getparent()
    if parent is None:
        return
    if parent.tag not in _BLOCK_PARENTS and "-" not in parent.tag:
        replace_inline(el, token)
        return
    new = parent.makeelement("p", {})
    new.text = token
    new.tail = el.tail
    parent.replace(el, new)
