"""Pages over the size limit: scripts, styles and inline SVG are cut before giving up."""

from __future__ import annotations

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.guard import GuardedExtractor
from mimo.data.extract.oversize import strip_heavy_markup

PROSE = ("The harbour council met on Tuesday to vote on the new plan for the old docks, and every member "
         "spoke about the cost of the work and the years it would take. ") * 12
LD = '<script type="application/ld+json">{"@type": "Product", "name": "Desk"}</script>'
MATH = '<script type="math/tex">x^2</script>'


def _page(script_bytes: int) -> str:
    state = "<script>window.__STATE__ = " + '"' + "a" * script_bytes + '";</script>'
    return (f"<html><head><title>Docks</title>{LD}<style>body {{ color: red; }}</style>{state}</head><body>"
            f"<article><h1>Docks</h1><p>{PROSE}</p><p>Area {MATH} grows.</p>"
            f"<svg><path d='M0 0'/></svg></article></body></html>")


def test_strip_keeps_json_ld_and_math_scripts() -> None:
    out = strip_heavy_markup(_page(100))
    assert LD in out and MATH in out
    assert "__STATE__" not in out and "<style" not in out and "<svg" not in out
    assert strip_heavy_markup(_page(100).encode()) == out.encode()


def test_oversized_page_of_scripts_is_extracted() -> None:
    config = ExtractConfig(page_types=True, max_html_bytes=200_000)
    out = extract_html(_page(1_000_000), config=config)
    assert out.skip_reason is None, out
    assert "harbour council met" in out.text and "$x^2$" in out.text


def test_oversized_page_is_skipped_when_its_text_is_too_large_or_the_payload_is_huge() -> None:
    config = ExtractConfig(max_html_bytes=200_000, max_payload_bytes=500_000)
    assert extract_html(_page(1_000_000), config=config).skip_reason == "too_large"  # over the payload cap
    prose = "<html><body><p>" + "word " * 100_000 + "</p></body></html>"  # 500 kB of text, no scripts
    assert extract_html(prose, config=ExtractConfig(max_html_bytes=200_000)).skip_reason == "too_large"


def test_guarded_worker_extracts_an_oversized_page_of_scripts() -> None:
    config = ExtractConfig(page_types=True, max_html_bytes=200_000, timeout_s=30)
    with GuardedExtractor(config) as guard:
        out = guard.extract(_page(1_000_000).encode())
        assert out.skip_reason is None and "harbour council met" in out.text
        assert guard.extract(b"<html>" + b"a" * 21_000_000 + b"</html>").skip_reason == "too_large"
