"""trafilatura's content XPaths, rebuilt to run faster with the same results.

trafilatura matches class and id names with EXSLT regular expressions (``re:test``), which lxml runs
as a call into Python for each element it tests. On WCXB pages its XPaths take about 40 % of its time.
Each content expression is rebuilt once (``bench/bench_trafilatura_xpaths.py`` measures both forms):

- compiled to a Python function by :mod:`.xpathcompile` (three times faster over all of them);
- else, for an expression outside the compiled subset, rewritten for libxml2 (a quarter faster):
  ``re:test(ARG, 'P')`` runs only where ``ARG`` exists, as ``(boolean(ARG) and re:test(ARG, 'P'))``
  (where it does not, lxml tests ``P`` on the empty string, so the rewrite is made only for patterns
  that cannot match the empty string), and extension functions get plain strings instead of "smart"
  ones (the expressions select elements, so no result holds a string).

The rebuilt expressions are switched in only inside :func:`fast_xpaths`, so trafilatura called
directly (the benchmark's baseline) runs its own. Tests check each rebuilt expression against the
original on real pages.

Four deliberate changes are made to the rebuilt form (``CORRECTIONS``), all to class patterns of
trafilatura's discard expression that hit containers holding the article itself:
- ``bar``, meant for sidebars, navbars and toolbars, also matches class names that only start with those
  letters, such as ``bard`` (the rich-text field of the Statamic CMS: the whole article of WCXB dev 0113)
  and ``barcode``; here it must not be followed by a lower-case letter;
- ``embed``, meant for embedded posts and players, also matches ``w-embed``, Webflow's element for
  custom HTML, where Webflow sites put article bodies and tables (WCXB dev 0061: F1 0.49 → 1.0);
- ``slide``, meant for slideshows and carousels, also matches ``listicle-slide``, the items of a list
  article on Hearst's magazine sites (WCXB dev 0133: F1 0.38 → 0.95);
- ``expand``, meant for expand buttons and expanded menus, also matches ``expandable``: collapsed parts
  of the text itself, like hidden tab panels (WCXB dev 0073: F1 0.48 → 0.92).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from lxml.etree import XPath

from mimo.data.extract.xpathcompile import Unsupported, compile_xpath

_EXSLT_REGEXP = "http://exslt.org/regular-expressions"
#: trafilatura's content-extraction expressions (module ``trafilatura.xpaths`` unless dotted)
CONTENT_XPATHS = ("BODY_XPATH", "COMMENTS_XPATH", "REMOVE_COMMENTS_XPATH", "REMOVE_COMMENTS_AND_LISTS_XPATH",
                  "RAW_TREE_PRUNE_XPATH", "OVERALL_DISCARD_XPATH", "TEASER_DISCARD_XPATH", "PRECISION_DISCARD_XPATH",
                  "DISCARD_IMAGE_ELEMENTS", "COMMENTS_DISCARD_XPATH", "settings.BASIC_CLEAN_XPATH")
_RE_TEST = re.compile(r"re:test\(\s*([@\w|-]+)\s*,\s*'([^']*)'\s*(?:,\s*'([^']*)'\s*)?\)")
#: (expression name, text in its path, replacement) made in the rebuilt expressions only (docstring)
CORRECTIONS = (("OVERALL_DISCARD_XPATH", "|menu|bar| ad |", "|menu|bar(?![a-z])| ad |"),
               ("OVERALL_DISCARD_XPATH", "|embedded|embed|", "|embedded|(?<!\\bw-)embed|"),
               ("OVERALL_DISCARD_XPATH", "|message-container|slide|viewport|",
                "|message-container|(?<!listicle-)slide|viewport|"),
               ("OVERALL_DISCARD_XPATH", "|options|expand|", "|options|expand(?!able)|"))
_ACTIVE: ContextVar[bool] = ContextVar("fast_trafilatura_xpaths", default=False)
_INSTALLED: list[bool] = []


def _guard(match: re.Match) -> str:
    arg, pattern, flags = match.group(1), match.group(2), match.group(3) or ""
    if re.search(pattern, "", re.IGNORECASE if "i" in flags else 0):
        return match.group(0)  # matches where the attribute is missing: left as it is
    return f"(boolean({arg}) and {match.group(0)})"


def rewritten(path: str) -> str:
    """``path`` with each ``re:test`` on attributes guarded by their existence."""
    return _RE_TEST.sub(_guard, path)


def corrected(name: str, xpath: XPath) -> XPath:
    """``xpath`` (trafilatura's expression ``name``) with the ``CORRECTIONS`` made to it."""
    path = xpath.path
    for target, old, new in CORRECTIONS:
        if target == name and old in path:
            path = path.replace(old, new)
    return xpath if path == xpath.path else XPath(path, namespaces={"re": _EXSLT_REGEXP})


def faster(xpath: XPath) -> Callable[[Any], list]:
    """The same expression as ``xpath``: compiled to Python where :mod:`.xpathcompile` reads it, else
    rewritten (module docstring)."""
    try:
        return compile_xpath(xpath.path)
    except Unsupported:
        return XPath(rewritten(xpath.path), namespaces={"re": _EXSLT_REGEXP}, smart_strings=False)


class SwitchedXPath:
    """Calls the rebuilt expression inside :func:`fast_xpaths`, the original outside it."""

    def __init__(self, original: XPath, name: str = "") -> None:
        self.original, self.fast, self.path = original, faster(corrected(name, original)), original.path

    def __call__(self, *args, **kwargs):
        return (self.fast if _ACTIVE.get() else self.original)(*args, **kwargs)


def _switch(name: str, value):
    if isinstance(value, XPath):
        return SwitchedXPath(value, name)
    if isinstance(value, list):  # shared by importers: changed in place
        value[:] = [SwitchedXPath(x, name) if isinstance(x, XPath) else x for x in value]
    return value


def _located() -> Iterator[tuple[str, Any]]:
    """(name, value) of each content expression this trafilatura has (another version may lack some:
    those stay as they are)."""
    import trafilatura  # noqa: F401  (loads the modules that import the expressions)

    for dotted in CONTENT_XPATHS:
        module_name, _, name = dotted.rpartition(".")
        value = getattr(sys.modules.get(f"trafilatura.{module_name or 'xpaths'}"), name, None)
        if value is not None:
            yield name, value


def install() -> None:
    """Replace trafilatura's content expressions by switched ones (once)."""
    if _INSTALLED:
        return
    for name, old in _located():
        new = _switch(name, old)
        if new is not old:  # a single expression: rebind it wherever trafilatura imported it
            for other in [m for key, m in sys.modules.items() if key.startswith("trafilatura")]:
                if getattr(other, name, None) is old:
                    setattr(other, name, new)
    _INSTALLED.append(True)


def content_xpaths() -> list[tuple[str, XPath]]:
    """(name, trafilatura's own expression) for each content expression, switched in or not."""
    install()
    out = []
    for name, value in _located():
        for k, x in enumerate(value if isinstance(value, list) else [value]):
            out.append((f"{name}[{k}]", x.original if isinstance(x, SwitchedXPath) else x))
    return out


@contextmanager
def fast_xpaths() -> Iterator[None]:
    """Within this block, trafilatura evaluates the rebuilt expressions."""
    install()
    token = _ACTIVE.set(True)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
