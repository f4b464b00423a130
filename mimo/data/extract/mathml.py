"""Small MathML -> LaTeX converter for MathML that carries no TeX annotation (MathJax v3
assistive MathML, hand-written MathML). Covers the common presentation elements."""

from __future__ import annotations

import re

from lxml.html import HtmlElement

_SYMBOLS: dict[str, str] = {
    "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon",
    "ϵ": r"\epsilon", "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "ι": r"\iota", "κ": r"\kappa",
    "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ρ": r"\rho",
    "σ": r"\sigma", "τ": r"\tau", "υ": r"\upsilon", "φ": r"\phi", "ϕ": r"\phi", "χ": r"\chi",
    "ψ": r"\psi", "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta",
    "Λ": r"\Lambda", "Ξ": r"\Xi", "Π": r"\Pi", "Σ": r"\Sigma", "Φ": r"\Phi", "Ψ": r"\Psi",
    "Ω": r"\Omega", "∑": r"\sum", "∏": r"\prod", "∫": r"\int", "∮": r"\oint", "∞": r"\infty",
    "≤": r"\leq", "≥": r"\geq", "≠": r"\neq", "≈": r"\approx", "≡": r"\equiv", "±": r"\pm",
    "∓": r"\mp", "×": r"\times", "÷": r"\div", "⋅": r"\cdot", "·": r"\cdot", "∂": r"\partial",
    "∇": r"\nabla", "∈": r"\in", "∉": r"\notin", "⊂": r"\subset", "⊆": r"\subseteq",
    "∪": r"\cup", "∩": r"\cap", "∅": r"\emptyset", "→": r"\to", "←": r"\leftarrow",
    "⇒": r"\Rightarrow", "⇔": r"\Leftrightarrow", "↦": r"\mapsto", "∀": r"\forall",
    "∃": r"\exists", "¬": r"\neg", "∧": r"\wedge", "∨": r"\vee", "…": r"\ldots", "⋯": r"\cdots",
    "−": "-", "∣": "|", "′": "'", "\u2061": "", "\u2062": "", "\u2063": "", "\u2064": "",
}


def _tag(el: HtmlElement) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower()


def _token(text: str) -> str:
    out = []
    for ch in text.strip():
        sym = _SYMBOLS.get(ch)
        out.append(ch if sym is None else (sym + " " if sym.startswith("\\") else sym))
    return "".join(out).strip()


def _group(s: str) -> str:
    return s if len(s) == 1 else "{" + s + "}"


def _convert(el: HtmlElement) -> str:
    """Iterative post-order conversion (no recursion: MathML can be deeply nested).

    Results are keyed by ``id()`` of lxml's element proxies, which are only stable while the proxy
    is alive: each stack entry therefore holds its children's proxies until the parent is done."""
    results: dict[int, str] = {}
    stack: list[tuple[HtmlElement, list[HtmlElement] | None]] = [(el, None)]
    while stack:
        node, kids = stack.pop()
        if kids is None:
            kids = [c for c in node if isinstance(c.tag, str)]
            stack.append((node, kids))
            stack.extend((c, None) for c in reversed(kids))
            continue
        parts = [results.pop(id(c), "") for c in kids]
        tag = _tag(node)
        if tag in ("mi", "mn", "mo", "ms"):
            res = _token(node.text_content())
        elif tag == "mtext":
            txt = node.text_content().strip()
            res = r"\text{" + txt + "}" if txt else ""
        elif tag == "mfrac" and len(parts) == 2:
            res = r"\frac{" + parts[0] + "}{" + parts[1] + "}"
        elif tag == "msqrt":
            res = r"\sqrt{" + " ".join(parts) + "}"
        elif tag == "mroot" and len(parts) == 2:
            res = r"\sqrt[" + parts[1] + "]{" + parts[0] + "}"
        elif tag in ("msup", "mover") and len(parts) == 2:
            res = _group(parts[0]) + "^" + _group(parts[1])
        elif tag in ("msub", "munder") and len(parts) == 2:
            res = _group(parts[0]) + "_" + _group(parts[1])
        elif tag in ("msubsup", "munderover") and len(parts) == 3:
            res = _group(parts[0]) + "_" + _group(parts[1]) + "^" + _group(parts[2])
        elif tag == "mfenced":
            res = node.get("open", "(") + ",".join(parts) + node.get("close", ")")
        elif tag == "mtable":
            res = r"\begin{matrix}" + r" \\ ".join(parts) + r"\end{matrix}"
        elif tag == "mtr":
            res = " & ".join(parts)
        elif tag in ("annotation", "annotation-xml", "none", "mprescripts"):
            res = ""
        elif tag == "semantics":
            res = parts[0] if parts else ""
        else:  # math, mrow, mstyle, mpadded, mtd, unknown
            res = " ".join(p for p in parts if p)
        results[id(node)] = res
    return results.get(id(el), "").strip()


_STYLE_WRAPPER = re.compile(r"^\{\\(?:display|text)style\s*(.*)\}$", re.DOTALL)


def unwrap_style(tex: str) -> str:
    """``{\\displaystyle x}`` (Wikipedia's wrapper) -> ``x``."""
    m = _STYLE_WRAPPER.match(tex.strip())
    return m.group(1).strip() if m else tex.strip()


def mathml_to_latex(math: HtmlElement) -> str:
    """TeX for a ``<math>`` element: its ``alttext``, a TeX annotation, or a conversion."""
    alt = (math.get("alttext") or "").strip()
    if alt:
        return unwrap_style(alt)
    for ann in math.iter():
        if _tag(ann) == "annotation" and "tex" in (ann.get("encoding") or "").lower():
            tex = (ann.text or "").strip()
            if tex:
                return unwrap_style(tex)
    return _convert(math)


def mathml_is_display(math: HtmlElement) -> bool:
    """True for block (display) MathML."""
    return (math.get("display") or "").lower() == "block" or (math.get("mode") or "") == "display"
