"""The main-content pass: trafilatura on an lxml tree whose math and code are already protected."""

from __future__ import annotations

import trafilatura
from lxml.html import HtmlElement

from mimo.data.extract.config import ExtractConfig
from mimo.data.extract.fastxpaths import fast_xpaths


def run_trafilatura(root: HtmlElement, url: str | None, config: ExtractConfig) -> str:
    """trafilatura's txt output for ``root`` under ``config`` (``""`` when it finds nothing).

    ``fast`` skips trafilatura's fallback extractors (readability, jusText); ``favor_recall`` is
    its recall mode, ``favor_precision`` its precision mode; neither is its balanced mode. trafilatura's XPaths run rebuilt
    (:mod:`.fastxpaths`)."""
    with fast_xpaths():
        text = trafilatura.extract(
            root, url=url, include_comments=config.include_comments, include_tables=config.include_tables,
            favor_precision=config.favor_precision,
            favor_recall=config.favor_recall and not config.favor_precision,
            fast=config.fast, output_format="txt", with_metadata=False, deduplicate=False,
        )
    return text or ""
