"""The class and id values of a page, collected once on the raw tree.

The page-type features read them, and so do the cheap gates of the later steps (forum engines,
banners, split bodies): a search in these few kilobytes replaces a search through the whole HTML
(tens of microseconds each on a 170 KB page) and a second collection of the attributes. The later
steps run on the protected tree, which has only fewer elements than the raw one (code and math
replaced by tokens), so a value missing here is missing there too.
"""

from __future__ import annotations

from lxml import etree
from lxml.html import HtmlElement

_CLASSES = etree.XPath("//@class", smart_strings=False)
_IDS = etree.XPath("//@id", smart_strings=False)


class PageAttrs:
    """``classes`` and ``ids``: the attribute values in document order; ``text``: all of them, one
    per line."""

    __slots__ = ("classes", "ids", "_text")

    def __init__(self, classes: list[str], ids: list[str]) -> None:
        self.classes, self.ids = classes, ids
        self._text: str | None = None

    @classmethod
    def of(cls, root: HtmlElement) -> PageAttrs:
        return cls(_CLASSES(root), _IDS(root))

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "\n".join(self.classes + self.ids)
        return self._text

    def has(self, needle: str) -> bool:
        """Whether some class or id value contains ``needle``."""
        return needle in self.text
