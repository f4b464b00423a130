"""Text a page states in its structured data: JSON-LD ``description`` / ``articleBody`` of its main
entity. Malformed JSON-LD blocks are skipped (counted by the caller as a fallback, never a crash)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lxml import etree
from lxml.html import HtmlElement

_LD = etree.XPath("//script[@type='application/ld+json']/text()")
_TAGS = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def json_ld_objects(root: HtmlElement) -> tuple[list[dict], int]:
    """Every JSON-LD object of the page (nested ones and ``@graph`` members included) and the number
    of blocks that did not parse."""
    objects, bad = [], 0
    for block in _LD(root):
        try:
            objects.extend(_walk(json.loads(str(block).strip().rstrip(";"))))
        except (ValueError, RecursionError):
            bad += 1
    return objects, bad


def _types(obj: dict) -> set[str]:
    t = obj.get("@type")
    return {t} if isinstance(t, str) else {x for x in t if isinstance(x, str)} if isinstance(t, list) else set()


def _clean(text: Any) -> str:
    return _WS.sub(" ", _TAGS.sub(" ", text)).strip() if isinstance(text, str) else ""


def longest_text(objects: list[dict], types: set[str], field: str) -> str:
    """The longest ``field`` (HTML stripped) among objects of one of ``types``."""
    found = [_clean(o.get(field)) for o in objects if _types(o) & types]
    return max(found, key=len, default="")
