"""Extraction by page type: the trafilatura settings and the extra steps that fit each type.

:func:`typed_config` gives the settings of a type (forum threads keep their replies, service and
listing pages favour recall); :func:`finish_typed` runs after the main-content pass on the same
(protected) tree: listing and collection pages take the largest group of repeated items when it holds
much more text than the main-content pass found; product pages fall back to the JSON-LD description
when the page body gave little. Every choice is measured per type on the WCXB development split
(``bench/bench_extraction.py``).
"""

from __future__ import annotations

from dataclasses import replace

from lxml.html import HtmlElement

from mimo.data.extract.config import ExtractConfig
from mimo.data.extract.listing import repeated_items
from mimo.data.extract.structured import json_ld_objects, longest_text

#: trafilatura settings per page type (fields of ExtractConfig); types not listed keep the config's
SETTINGS: dict[str, dict[str, bool]] = {
    "forum": {"include_comments": True},
}
ITEMS_TYPES = ("listing", "collection")
ITEMS_FACTOR = 2.0  # repeated items replace the main-content text when they hold this much more
PRODUCT_SHORT_CHARS = 100  # a product body shorter than this takes the JSON-LD description


def typed_config(kind: str, config: ExtractConfig) -> ExtractConfig:
    return replace(config, **SETTINGS[kind]) if kind in SETTINGS else config


def prepare_typed(kind: str, root: HtmlElement) -> str:
    """What a type collects from the tree before the main-content pass (which may change it)."""
    return repeated_items(root) if kind in ITEMS_TYPES else ""


def finish_typed(kind: str, text: str, collected: str, root: HtmlElement) -> tuple[str, str]:
    """The page's text after its type's step, and which step decided (``main``, ``items``,
    ``json-ld``)."""
    if kind in ITEMS_TYPES and len(collected.split()) > ITEMS_FACTOR * len(text.split()):
        return collected, "items"
    if kind == "product" and len(text) < PRODUCT_SHORT_CHARS:
        objects, _ = json_ld_objects(root)
        described = longest_text(objects, {"Product", "ProductGroup", "SoftwareApplication"}, "description")
        if len(described) > len(text):
            return described, "json-ld"
    return text, "main"
