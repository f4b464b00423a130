"""Page type of an HTML page, cheaply, from its URL, its structured data and its DOM: article, forum,
product, collection, listing, documentation or service (the seven types of the WCXB benchmark).

Three stages, first decisive one wins: URL patterns (forum, docs, product, collection, service,
listing), then structured data (JSON-LD ``@type``, ``og:type``), then DOM signals (product grids with
cart buttons, code blocks beside a docs sidebar, link-dense pages with little prose). Anything else
is an article. The rules follow rs-trafilatura's published URL and HTML stages (not its learned
model); their accuracy on the WCXB development split is measured in ``bench/bench_extraction.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from lxml import etree
from lxml.html import HtmlElement

PAGE_TYPES = ("article", "forum", "product", "collection", "listing", "documentation", "service")

_FORUM_HOSTS = ("forum.", "forums.", "community.", "discuss.", "discussion.", "bbs.", "discourse.", "reddit.com",
                "stackoverflow.com", "stackexchange.com", "superuser.com", "serverfault.com", "askubuntu.com",
                "mathoverflow.net", "news.ycombinator.com", "quora.com")
_FORUM_PATHS = ("/forum", "/forums/", "/thread/", "/threads/", "/topic/", "/topics/", "/discussion/",
                "/discussions/", "/community/", "/t/", "/questions/", "/question/", "/comments/",
                "viewtopic.php", "showthread.php", "item?id=")
_DOCS_HOSTS = ("docs.", "doc.", "wiki.", "devdocs.", "readthedocs.", "developer.mozilla.org", "man7.org")
_DOCS_PATHS = ("/docs/", "/doc/", "/documentation/", "/reference/", "/api/", "/guide/", "/guides/", "/tutorial/",
               "/tutorials/", "/manual/", "/handbook/", "/wiki/", "/man/", "/quickstart", "/getting-started",
               "/book/", "/glossary/")
_PRODUCT_PATHS = ("/products/", "/product/", "/dp/", "/ip/", "/p/")
_COLLECTION_PATHS = ("/collections/", "/collection/", "/categories/", "/category/", "/browse/", "/cat/",
                     "/shop/", "/c/")
_SERVICE_PATHS = ("/services/", "/service/", "/solutions/", "/solution/", "/offerings/", "/what-we-do",
                  "-services", "-consulting", "-agency")
_LISTING_ENDS = ("/news", "/blog", "/articles", "/testimonials", "/coupons", "/reviews", "/rankings", "/events",
                 "/press", "/jobs", "/careers", "/latest")
_LISTING_PARTS = ("/tag/", "/tags/", "/author/", "/archive", "/page/", "/awards/", "/trending/", "/list/")

_LD_TYPE = re.compile(r'"@type"\s*:\s*(\[[^\]]*\]|"[^"]*")')
_OG_TYPE = etree.XPath("//meta[@property='og:type']/@content", smart_strings=False)
_CART = re.compile(r"add[-_ ]?to[-_ ]?(cart|bag|basket)|buy[-_ ]now", re.IGNORECASE)
# counts and plain strings: no Python element proxies are made, which is most of the cost on big pages
_CLASSES = etree.XPath("//@class", smart_strings=False)
_CARD_CLASSES = re.compile("product-card|product-tile|product-item|product-grid-item|productCard")
_CODE_COUNT = etree.XPath("count(//pre|//code)")
# searched in the lower-cased page: an IGNORECASE alternation is six times slower
_DOCS_NAV = re.compile(r"docs?-?(sidebar|nav)|table-of-contents|toctree|sphinxsidebar|md-sidebar|"
                       r"theme-doc|api-reference|menu-docs|wy-nav")
_P_TEXT = etree.XPath("//p//text()", smart_strings=False)
_LINK_COUNT = etree.XPath("count(//a[@href])")


@dataclass(frozen=True)
class PageType:
    """A page's type and the stage that decided it (``url``, ``json-ld``, ``og``, ``dom``, ``default``)."""

    kind: str
    source: str
    confidence: float = 1.0  # the learned model's probability of ``kind``; 1.0 for a rule


def _url_type(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.lower())
    host, path = parts.netloc, parts.path + ("?" + parts.query if parts.query else "")
    if any(h in host for h in _FORUM_HOSTS) or any(p in path for p in _FORUM_PATHS):
        return "forum"
    if any(host.startswith(h) or h in host for h in _DOCS_HOSTS) or any(p in path for p in _DOCS_PATHS):
        return "documentation"
    if any(p in path for p in _PRODUCT_PATHS):
        return "product"
    if any(p in path for p in _COLLECTION_PATHS):
        return "collection"
    if any(p in path for p in _SERVICE_PATHS):
        return "service"
    trimmed = parts.path.rstrip("/")
    if trimmed.endswith(_LISTING_ENDS) or any(p in path for p in _LISTING_PARTS):
        return "listing"
    return None


@lru_cache(maxsize=4)
def ld_types(html: str) -> frozenset[str]:
    """Every JSON-LD / microdata ``@type`` named in the page (a regex scan: malformed JSON-LD is fine)."""
    found: set[str] = set()
    for value in _LD_TYPE.findall(html):
        found.update(t for t in re.findall(r'"([^"]+)"', value))
    return frozenset(found)


def page_ld_types(html: str) -> frozenset[str]:
    """:func:`ld_types`, or nothing without a ``"@type"`` in the page."""
    return ld_types(html) if '"@type"' in html else frozenset()


def _structured_type(root: HtmlElement, html: str, types: frozenset[str] | None = None) -> tuple[str, str] | None:
    types = page_ld_types(html) if types is None else types
    if types & {"DiscussionForumPosting", "QAPage"}:
        return "forum", "json-ld"
    if types & {"CollectionPage", "OfferCatalog", "ProductCollection"} or (
            "Product" in types and "AggregateOffer" in types):
        return "collection", "json-ld"
    if types & {"Product", "ProductGroup"}:
        return "product", "json-ld"
    og = " ".join(_OG_TYPE(root)).lower()
    if "product.group" in og:
        return "collection", "og"
    if "product" in og:
        return "product", "og"
    if types & {"TechArticle", "APIReference"}:
        return "documentation", "json-ld"
    if types & {"Service", "ProfessionalService", "LocalBusiness"} and not types & {
            "Article", "NewsArticle", "BlogPosting"}:
        return "service", "json-ld"
    return None


def prose_and_links(root: HtmlElement) -> tuple[int, int]:
    """Words inside ``<p>`` and the number of links with an ``href``."""
    return len(" ".join(_P_TEXT(root)).split()), int(_LINK_COUNT(root))


def _dom_type(root: HtmlElement, html: str, prose: tuple[int, int] | None = None,
              classes: list[str] | None = None) -> str | None:
    if classes is None:
        classes = _CLASSES(root) if "product" in html else []
    cards = sum(1 for value in classes if _CARD_CLASSES.search(value))
    if cards >= 5 and _CART.search(html):
        return "collection"
    n_code = _CODE_COUNT(root) if ("<pre" in html or "<code" in html) else 0
    if n_code >= 3 and _DOCS_NAV.search(html.lower()):
        return "documentation"
    p_words, links = prose if prose is not None else prose_and_links(root)
    if p_words < 30 and links >= 3 * max(p_words, 1):
        return "listing"
    return None


def classify_page(root: HtmlElement, html: str, url: str | None = None) -> PageType:
    """The page's type (module docstring); call on the raw tree, before any cleaning."""
    if (kind := _url_type(url)) is not None:
        return PageType(kind, "url")
    if (found := _structured_type(root, html)) is not None:
        return PageType(*found)
    if (kind := _dom_type(root, html)) is not None:
        return PageType(kind, "dom")
    return PageType("article", "default")
