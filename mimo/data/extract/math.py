"""Math pre-pass: MathJax/KaTeX/MathML/LaTeX images/TeX delimiters -> placeholder tokens."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote_plus, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.mathml import mathml_is_display, mathml_to_latex
from mimo.data.extract.placeholders import PlaceholderTable, replace_inline

# wrappers that MathJax/Wikipedia/KaTeX put around rendered math (visual glyphs + hidden MathML)
_RENDER_CLASS = re.compile(r"(?:^|\s)(?:MathJax\w*|MJX\w*|mjx-\w+|mwe-math-element|katex-display)(?:\s|$)")
_TEX_DELIMS = re.compile(
    r"\$\$(?P<dd>.+?)\$\$"
    r"|\\\[(?P<db>.+?)\\\]"
    r"|\\\((?P<ip>.+?)\\\)"
    r"|\\begin\{(?P<env>equation|align|gather|multline|eqnarray|displaymath)(?P<star>\*?)\}.+?\\end\{(?P=env)(?P=star)\}"
    r"|(?<![\\$\w])\$(?P<id>[^\s$](?:[^$\n]{0,300}?[^\s$\\])?)\$(?![\w$])",
    re.DOTALL,
)
_TEXISH = re.compile(r"[\\^_{}=]|^[A-Za-z]$")
_MONEY = re.compile(r"^[\d.,\s]+[kKmMbB]?$")
_LATEX_IMG_HOSTS = ("latex.php", "codecogs.com", "mathtex", "cht=tx", "/latex?", "texify")


def _classes(el: HtmlElement) -> str:
    return el.get("class") or ""


def _fmt(tex: str, display: bool) -> str:
    tex = tex.strip()
    return f"$${tex}$$" if display else f"${tex}$"


def _render_root(el: HtmlElement) -> HtmlElement:
    """Outermost rendering wrapper (MathJax frame, Wikipedia math span) around ``el``."""
    root = el
    for anc in el.iterancestors():
        if _RENDER_CLASS.search(_classes(anc)) or str(anc.tag).startswith("mjx-"):
            root = anc
        elif anc.tag in ("span", "nobr", "div") and not (anc.text or "").strip() and len(anc) == 1:
            continue
        else:
            break
    return root


def _mathjax_scripts(root: HtmlElement, table: PlaceholderTable) -> None:
    for script in list(root.iter("script")):
        typ = (script.get("type") or "").lower()
        if not typ.startswith("math/tex") and not typ.startswith("math/asciimath"):
            continue
        tex = (script.text or "").strip()
        display = "mode=display" in typ
        # drop the rendered copy MathJax v2 put before the script (frame, preview, display div)
        prev = script.getprevious()
        while prev is not None and _RENDER_CLASS.search(_classes(prev)) and not (prev.tail or "").strip():
            nxt = prev.getprevious()
            prev.getparent().remove(prev)
            prev = nxt
        if script.get("id"):
            for frame in root.xpath("//*[@id=$i]", i=script.get("id") + "-Frame"):
                frame.getparent().remove(frame)
        if tex and typ.startswith("math/tex"):
            replace_inline(script, table.new("math", _fmt(tex, display), False))
        else:
            replace_inline(script, "")


def _katex(root: HtmlElement, table: PlaceholderTable) -> None:
    for el in list(root.xpath("//*[contains(@class,'katex')]")):
        cls = _classes(el).split()
        if ("katex" not in cls and "katex-display" not in cls) or el.getparent() is None:
            continue
        if any("katex" in _classes(a).split() or "katex-display" in _classes(a).split()
               for a in el.iterancestors()):
            continue
        ann = el.xpath(".//annotation[contains(@encoding,'tex')]")
        maths = el.xpath(".//math")
        tex = (ann[0].text or "") if ann else (mathml_to_latex(maths[0]) if maths else "")
        if tex.strip():
            replace_inline(el, table.new("math", _fmt(tex, "katex-display" in cls), False))


def _mathml(root: HtmlElement, table: PlaceholderTable) -> None:
    for math in list(root.iter("math", "{http://www.w3.org/1998/Math/MathML}math")):
        if math.getparent() is None or any(a.tag == "math" for a in math.iterancestors()):
            continue
        tex = mathml_to_latex(math)
        if not tex:
            continue
        wrapper = _render_root(math)
        display = mathml_is_display(math) or (wrapper.get("display") or "") in ("true", "block") \
            or "display" in _classes(wrapper).lower()
        if wrapper.getparent() is not None:
            replace_inline(wrapper, table.new("math", _fmt(tex, display), False))


def _latex_images(root: HtmlElement, table: PlaceholderTable) -> None:
    for img in list(root.iter("img")):
        src, cls = img.get("src") or "", _classes(img)
        is_latex = "latex" in cls.split() or "tex" in cls.split() or any(h in src for h in _LATEX_IMG_HOSTS)
        if not is_latex or img.getparent() is None:
            continue
        tex = (img.get("alt") or "").strip()
        if not tex or tex.lower() in ("latex", "formula", "equation", "math", "image"):
            parts = urlsplit(src)
            query = parse_qs(parts.query).get("latex") or parse_qs(parts.query).get("chl")
            tex = query[0] if query else unquote_plus(parts.query) if "codecogs" in src else ""
        if tex.strip():
            display = "display" in cls or tex.lstrip().startswith("\\displaystyle")
            replace_inline(img, table.new("math", _fmt(tex, display), False))


def _sub_delims(text: str, table: PlaceholderTable) -> str:
    def sub(m: re.Match[str]) -> str:
        inline = m.group("id")
        if inline is not None and (not _TEXISH.search(inline) or _MONEY.match(inline)):
            return m.group(0)
        return table.new("math", m.group(0), False)

    return _TEX_DELIMS.sub(sub, text)


_DELIM_TEXT_XPATH = etree.XPath(
    "//text()[(contains(., '$') or contains(., '\\')) and not(ancestor::pre or ancestor::code or "
    "ancestor::script or ancestor::style or ancestor::textarea or ancestor::kbd or ancestor::samp)]"
)


def _text_delimiters(root: HtmlElement, table: PlaceholderTable) -> None:
    for node in _DELIM_TEXT_XPATH(root):
        el = node.getparent()
        if el is None:
            continue
        if node.is_tail:
            el.tail = _sub_delims(str(node), table)
        else:
            el.text = _sub_delims(str(node), table)


def protect_math(root: HtmlElement, table: PlaceholderTable, html: str) -> None:
    """Replace every formula in the tree by a token registered in ``table``.

    MathJax scripts, MathML and formula images are looked for in the tree directly (a walk over
    ``<script>``, ``<math>`` or ``<img>`` elements costs less than scanning the page's markup for
    their markers); KaTeX and TeX delimiters, which need a scan of every class or text, only when
    the markup holds their markers."""
    _mathjax_scripts(root, table)
    if "katex" in html:
        _katex(root, table)
    _mathml(root, table)
    _latex_images(root, table)
    if "$" in html or "\\(" in html or "\\[" in html or "\\begin{" in html:
        _text_delimiters(root, table)
