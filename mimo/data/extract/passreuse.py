"""Work that trafilatura's fast pass and its pass with fallbacks share, done once per page.

The pass with fallback extractors (readability, jusText) starts again from the tree: it cleans the
tree, runs trafilatura's main extractor and measures the page's text exactly as the fast pass did,
then adds the fallbacks. Inside :func:`shared_passes`, those three steps are memoized for the page:
the second pass gets copies of the first pass's results. The main extractor's result is kept only
when its wild-text recovery did not run, since that step depends on ``fast``.

The memo hooks into four internals of trafilatura, so it is installed only for the version they were
read from (``SUPPORTED_VERSION``); with any other version the passes run as before. Outputs are
identical with and without it on all 1,497 WCXB dev pages (``bench/bench_extraction.py`` measures the
speed).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import copy
from typing import Any

import trafilatura
import trafilatura.core as _core
import trafilatura.main_extractor as _main_extractor

SUPPORTED_VERSION = "2.3.1"
_MEMO: ContextVar[dict | None] = ContextVar("trafilatura_pass_memo", default=None)
_ORIGINAL: dict[str, Any] = {}


def _prepare_tree(tree, options, url):
    memo = _MEMO.get()
    if memo is None:
        return _ORIGINAL["_prepare_tree"](tree, options, url)
    key = ("prepare", options.focus, options.comments, options.tables, len(tree))
    if key in memo:
        cleaned, backup = memo[key]
        return copy(cleaned), copy(backup)
    cleaned, backup = _ORIGINAL["_prepare_tree"](tree, options, url)
    memo[key] = (copy(cleaned), copy(backup))
    return cleaned, backup


def _recover_wild_text(*args, **kwargs):
    memo = _MEMO.get()
    if memo is not None:
        memo["wild_text_ran"] = True
    return _ORIGINAL["recover_wild_text"](*args, **kwargs)


def _extract_content(cleaned_tree, options):
    memo = _MEMO.get()
    if memo is None:
        return _ORIGINAL["extract_content"](cleaned_tree, options)
    key = ("extract", options.focus, options.comments, options.tables, len(cleaned_tree))
    if key in memo:
        body, text = memo[key]
        return copy(body), text
    memo.pop("wild_text_ran", None)
    body, text = _ORIGINAL["extract_content"](cleaned_tree, options)
    if not memo.pop("wild_text_ran", False):
        memo[key] = (copy(body), text)
    return body, text


def _html2txt(tree, clean=True):
    memo = _MEMO.get()
    if memo is None:
        return _ORIGINAL["html2txt"](tree, clean)
    key = ("html2txt", clean, len(tree))
    if key not in memo:
        memo[key] = _ORIGINAL["html2txt"](tree, clean)
    return memo[key]


def install() -> bool:
    """Hook the memo into trafilatura (once); ``False`` when its version is not the supported one."""
    if _ORIGINAL:
        return True
    if trafilatura.__version__ != SUPPORTED_VERSION:
        return False
    _ORIGINAL.update(_prepare_tree=_core._prepare_tree, extract_content=_core.extract_content,
                     html2txt=_core.html2txt, recover_wild_text=_main_extractor.recover_wild_text)
    _core._prepare_tree, _core.extract_content, _core.html2txt = _prepare_tree, _extract_content, _html2txt
    _main_extractor.recover_wild_text = _recover_wild_text
    return True


@contextmanager
def shared_passes() -> Iterator[dict | None]:
    """Within this block, trafilatura passes over the same page share their common work; yields the
    memo (``None`` when the memo is not installed)."""
    memo: dict | None = {} if install() else None
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)
