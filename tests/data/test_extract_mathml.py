"""MathML -> LaTeX conversion."""

from __future__ import annotations

import lxml.html

from mimo.data.extract.mathml import mathml_to_latex


def _math(markup: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(f"<div>{markup}</div>").find(".//math")


def test_fraction_and_power() -> None:
    tex = mathml_to_latex(_math("<math><mfrac><mi>a</mi><mi>b</mi></mfrac><mo>+</mo>"
                                "<msup><mi>x</mi><mn>2</mn></msup></math>"))
    assert tex == r"\frac{a}{b} + x^2"


def test_large_formula_keeps_every_term() -> None:
    """Element proxies freed during the walk must not lose (or swap) their children's TeX."""
    terms = "".join(f"<mrow><mfrac><mi>a</mi><mn>{i}</mn></mfrac><mo>+</mo></mrow>" for i in range(300))
    tex = mathml_to_latex(_math(f"<math>{terms}</math>"))
    assert tex.count(r"\frac") == 300
    assert all(rf"\frac{{a}}{{{i}}}" in tex for i in range(300))


def test_annotation_wins_over_conversion() -> None:
    tex = mathml_to_latex(_math('<math><semantics><mi>y</mi><annotation encoding="application/x-tex">'
                                r"\displaystyle y_0</annotation></semantics></math>"))
    assert tex == r"\displaystyle y_0"
