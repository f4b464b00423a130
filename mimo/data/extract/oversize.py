"""Pages over the size limit: the markup that carries no text (scripts, styles, inline SVG,
templates) is cut before giving up. Modern shop pages embed megabytes of JavaScript state around a
few hundred kilobytes of HTML; JSON-LD and MathJax scripts are kept, since extraction reads them."""

from __future__ import annotations

import re

# a script whose opening tag names JSON-LD or math is kept
_HEAVY = (r"<script\b(?![^>]*(?:ld\+json|math/))[^>]*>.*?</script\s*>|<style\b[^>]*>.*?</style\s*>"
          r"|<svg\b[^>]*>.*?</svg\s*>|<template\b[^>]*>.*?</template\s*>")
_HEAVY_STR = re.compile(_HEAVY, re.DOTALL | re.IGNORECASE)
_HEAVY_BYTES = re.compile(_HEAVY.encode(), re.DOTALL | re.IGNORECASE)


def strip_heavy_markup(html: str | bytes) -> str | bytes:
    """``html`` without its scripts (except JSON-LD and math), styles, inline SVG and templates."""
    if isinstance(html, bytes):
        return _HEAVY_BYTES.sub(b"", html)
    return _HEAVY_STR.sub("", html)
