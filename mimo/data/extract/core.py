"""In-process extraction: decode, parse once with lxml, protect math/code, run trafilatura on the
tree, restore the exact LaTeX/code, detect the language."""

from __future__ import annotations

import logging
import re
import time

import lxml.html
from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.attrs import PageAttrs
from mimo.data.extract.boilerplate import (
    drop_boilerplate_lines,
    drop_headline,
    drop_interface_lines,
    drop_repeated_lines,
    drop_tag_lists,
    headline_candidates,
    merge_split_bodies,
    page_urls,
    prune_address_blocks,
    prune_boilerplate,
    prune_navigation_cells,
    reveal_tab_panels,
)
from mimo.data.extract.code import protect_code
from mimo.data.extract.config import ExtractConfig, ExtractOutcome
from mimo.data.extract.decode import decode_html, is_binary
from mimo.data.extract.forums import merge_forum_posts
from mimo.data.extract.mainpass import run_trafilatura
from mimo.data.extract.math import protect_math
from mimo.data.extract.oversize import strip_heavy_markup
from mimo.data.extract.pagetype import PageType
from mimo.data.extract.pagetype_model import predict_page_type
from mimo.data.extract.placeholders import PlaceholderTable
from mimo.data.extract.profiles import (INTERFACE_LINES_DROPPED, REPEATS_DROPPED, extract_typed, keep_protected,
                                        typed_config)
from mimo.data.extract.recommendations import prune_recommendations
from mimo.data.extract.quality import document_words, extraction_quality, visible_words
from mimo.data.extract.threads import read_thread
from mimo.data.language import detect_language

logging.getLogger("trafilatura").setLevel(logging.CRITICAL)


def _html_parser(huge_tree: bool = False) -> lxml.html.HTMLParser:
    """lxml's HTML parser, with every element an ``HtmlElement`` picked in C: lxml.html's per-tag
    lookup is a Python call for each element proxy (about 6 % of the extraction time on WCXB pages),
    and the form-control classes it picks are used neither by trafilatura nor here."""
    parser = lxml.html.HTMLParser(collect_ids=False, default_doctype=False, remove_comments=True,
                                  remove_pis=True, huge_tree=huge_tree)
    parser.set_element_class_lookup(etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement, comment=lxml.html.HtmlComment, pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity))
    return parser


_PARSER = _html_parser()
# libxml2 stops (silently) at depth 256; the huge-tree parser allows 2048 and is used only then
_DEEP_PARSER = _html_parser(huge_tree=True)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DEFAULT = ExtractConfig()


class SkipDocument(Exception):
    """Raised internally with a skip reason."""


def _too_large(html: str | bytes, limit: int) -> bool:
    if len(html) > limit:
        return True
    if isinstance(html, str) and len(html) * 4 > limit and not html.isascii():
        return len(html.encode("utf-8", "surrogatepass")) > limit
    return False


def _shrunk(html: str | bytes, config: ExtractConfig) -> str | bytes:
    """An oversized payload without its script/style/SVG markup, when that fits the limits."""
    if len(html) > config.payload_limit:
        raise SkipDocument("too_large")
    html = strip_heavy_markup(html)
    if _too_large(html, config.max_html_bytes):
        raise SkipDocument("too_large")
    return html


def _to_text(html: str | bytes, charset_hint: str | None) -> tuple[str, str | None]:
    if isinstance(html, str):
        return html, None
    try:
        return decode_html(html, charset_hint)
    except ValueError as err:
        reason = str(err) if str(err) in ("binary", "decode_error") else "decode_error"
        raise SkipDocument(reason) from None


def parse_html(text: str) -> HtmlElement:
    """Parse with lxml; raises SkipDocument("parse_error") on failure or depth truncation."""
    text = _XML_DECL.sub("", text, count=1).replace("\x00", "")
    for parser in (_PARSER, _DEEP_PARSER):
        try:
            root = lxml.html.document_fromstring(text, parser=parser)
        except (etree.ParserError, ValueError) as err:
            raise SkipDocument("empty" if "empty" in str(err).lower() else "parse_error") from None
        if root is None:
            raise SkipDocument("parse_error")
        if not any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
            adopt_trailing_markup(root)
            return root
    raise SkipDocument("parse_error")  # deeper than 2048: libxml2 would silently truncate it


def adopt_trailing_markup(root: HtmlElement) -> None:
    """Move markup that follows ``</html>`` into ``<body>``, as browsers do: libxml2 makes it a second
    document element, outside every path from the root (a page's whole article can sit there)."""
    body = root.find("body")
    if body is None:
        return
    for extra in list(root.itersiblings()):
        if not isinstance(extra.tag, str):
            continue
        if extra.text and extra.text.strip():
            _append_text(body, extra.text)
        for child in list(extra):
            if child.tag == "head" or not isinstance(child.tag, str):
                continue
            if child.tag == "body":
                if child.text and child.text.strip():
                    _append_text(body, child.text)
                body.extend(list(child))
            else:
                body.append(child)


def _append_text(parent: HtmlElement, text: str) -> None:
    if len(parent):
        parent[-1].tail = (parent[-1].tail or "") + text
    else:
        parent.text = (parent.text or "") + text


def page_title(root: HtmlElement) -> str | None:
    """og:title, else <title>, else the first <h1>."""
    for xp in ("//meta[@property='og:title']/@content", "//head/title//text()", "//h1//text()"):
        found = " ".join(str(x) for x in root.xpath(xp)[:20]).strip()
        if found:
            return re.sub(r"\s+", " ", found)[:500]
    return None


def extract_tree(root: HtmlElement, html: str, url: str | None,
                 config: ExtractConfig) -> tuple[str, str | None, int, int, PageType | None, float | None]:
    """Extraction proper on a parsed tree: (text, title, n_formulas, n_code_blocks, page type,
    extraction quality; the last two ``None`` when ``config.page_types`` is off)."""
    title = page_title(root)
    page_type, page_words, kind, step = None, 0, None, "main"
    attrs = PageAttrs.of(root)
    if config.page_types:  # on the raw tree, before anything is changed
        page_type, page_words = predict_page_type(root, html, url, attrs), visible_words(root)
        kind = page_type.kind
    heads = headline_candidates(root, title)
    own_urls = page_urls(root, url)
    table = PlaceholderTable.for_document(html)
    protect_code(root, table)
    protect_math(root, table, html)
    thread = read_thread(root, html) if kind == "forum" else None
    if thread:
        text, step = thread, "thread"
    else:
        prune_boilerplate(root, attrs)
        prune_navigation_cells(root)
        prune_address_blocks(root)
        if "tabpanel" in html:
            reveal_tab_panels(root)
        if not merge_forum_posts(root, attrs):
            merge_split_bodies(root, attrs)
        if kind:
            prune_recommendations(root, kind)
            text, step = extract_typed(kind, root, url, typed_config(kind, config), page_words,
                                       page_type.confidence)
            if table.items:
                text, step = keep_protected(kind, text, step, root, url, config, table.items)
        else:
            text = run_trafilatura(root, url, config)
    text = drop_tag_lists(drop_boilerplate_lines(drop_headline(text, heads), own_urls))
    if kind in REPEATS_DROPPED:
        text = drop_repeated_lines(text)
    if kind in INTERFACE_LINES_DROPPED:
        text = drop_interface_lines(text)
    text, n_math, n_code = table.restore(text)
    text = text.strip()
    quality = extraction_quality(text, page_words, kind, step) if kind else None
    return text, title, n_math, n_code, page_type, quality


def extract_html(html: str | bytes, url: str | None = None, config: ExtractConfig = _DEFAULT,
                 charset_hint: str | None = None) -> ExtractOutcome:
    """Extract the main text of one page in this process (no time/memory guard)."""
    t0 = time.perf_counter()
    encoding: str | None = None
    title: str | None = None
    try:
        if not html or not html.strip():
            raise SkipDocument("empty_input")
        if _too_large(html, config.max_html_bytes):
            html = _shrunk(html, config)
        if isinstance(html, str) and is_binary(html[:4096].encode("utf-8", "surrogatepass")):
            raise SkipDocument("binary")
        text, encoding = _to_text(html, charset_hint)
        root = parse_html(text)
        try:
            out, title, n_math, n_code, page_type, quality = extract_tree(root, text, url, config)
        except RecursionError:
            raise SkipDocument("parse_error") from None
        if len(out) < max(1, config.min_text_chars):
            raise SkipDocument("empty")
        if config.page_types and document_words(out) < config.min_words:
            raise SkipDocument("shell")
    except SkipDocument as skip:
        return ExtractOutcome.skipped(str(skip), encoding=encoding, title=title,
                                      extraction_ms=(time.perf_counter() - t0) * 1000)
    except MemoryError:
        return ExtractOutcome.skipped("memory", encoding=encoding,
                                      extraction_ms=(time.perf_counter() - t0) * 1000)
    lang, score = detect_language(out)
    return ExtractOutcome(text=out, skip_reason=None, title=title, language=lang,
                          language_score=score, n_formulas=n_math, n_code_blocks=n_code,
                          page_type=page_type.kind if page_type else None,
                          quality=quality,
                          encoding=encoding, extraction_ms=(time.perf_counter() - t0) * 1000)
