"""Extractor behaviour on small inline pages: math, code, boilerplate, decoding, CLI."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mimo.data.extract import ExtractConfig, ExtractOutcome, decode_html, extract_html
from mimo.data.extract.cli import run_extract_cli
from mimo.data.extract.core import parse_html
from mimo.data.language import detect_language

FILLER = ("This paragraph holds ordinary prose so that the page looks like an article, with enough "
          "words for the main-content detector to keep the surrounding block of text in the output.")
ROOT = Path(__file__).resolve().parents[2]


def page(body: str, head: str = "<title>Test page</title>") -> str:
    return (f"<html><head>{head}</head><body><nav><a href='/'>Home</a> <a href='/x'>Sections</a></nav>"
            f"<article><h1>Test page</h1><p>{FILLER}</p>{body}<p>{FILLER}</p></article>"
            "<footer>Copyright 2024 Example Corp. All rights reserved.</footer></body></html>")


def text_of(html: str | bytes, **kw: object) -> ExtractOutcome:
    out = extract_html(html, **kw)  # type: ignore[arg-type]
    assert out.skip_reason is None, out
    assert out.text
    return out


# ---- math ----------------------------------------------------------------------------------------
def test_mathjax_scripts_inline_and_display() -> None:
    out = text_of(page('<p>Energy <script type="math/tex">E = mc^2</script> and the sum '
                       '<script type="math/tex; mode=display">\\sum_{i=1}^{n} x_i^2</script> end.</p>'))
    assert "$E = mc^2$" in out.text
    assert "$$\\sum_{i=1}^{n} x_i^2$$" in out.text
    assert out.n_formulas == 2


def test_tex_delimiters_in_text_kept_raw() -> None:
    out = text_of(page("<p>Inline \\(a_1 + b_{2}\\) and display $$\\int_0^1 f(x)\\,dx$$ "
                       "and \\[x_n \\to \\infty\\] while prices $5 and $10 stay.</p>"))
    assert "\\(a_1 + b_{2}\\)" in out.text
    assert "$$\\int_0^1 f(x)\\,dx$$" in out.text
    assert "\\[x_n \\to \\infty\\]" in out.text
    assert "\\_" not in out.text and "\\\\" not in out.text
    assert "$5 and $10" in out.text
    assert out.n_formulas == 3


def test_katex_annotation_replaces_rendering() -> None:
    katex = ('<span class="katex"><span class="katex-mathml"><math><semantics><mrow><mi>x</mi></mrow>'
             '<annotation encoding="application/x-tex">x^{2}_1</annotation></semantics></math></span>'
             '<span class="katex-html" aria-hidden="true"><span class="base">x21</span></span></span>')
    frac = katex.replace("x^{2}_1", "\\frac{a}{b}")
    display = f'<span class="katex-display">{frac}</span>'
    out = text_of(page(f"<p>Value {katex} here.</p><p>{display}</p>"))
    assert "$x^{2}_1$" in out.text
    assert "$$\\frac{a}{b}$$" in out.text, out.text
    assert "x21" not in out.text


def test_mathml_alttext_hidden_and_no_duplicate() -> None:
    hidden = ('<span class="mwe-math-element"><span style="display: none;">'
              '<math alttext="{\\displaystyle \\alpha_0}"><mi>α</mi></math></span>'
              '<img class="mwe-math-fallback-image-inline" alt="{\\displaystyle \\alpha_0}" src="a.svg"></span>')
    mathjax = ('<span class="MathJax_Preview"></span><span class="MathJax" id="MathJax-Element-1-Frame">'
               '<span class="MJX_Assistive_MathML"><math><mi>y</mi><mo>=</mo><mn>3</mn></math></span></span>'
               '<script type="math/tex" id="MathJax-Element-1">y=3</script>')
    out = text_of(page(f"<p>Greek {hidden} and rendered {mathjax} done.</p>"))
    assert "$\\alpha_0$" in out.text and "displaystyle" not in out.text
    assert out.text.count("y=3") == 1 and "y = 3" not in out.text
    assert out.n_formulas == 2


def test_mathjax3_container_without_tex_is_converted() -> None:
    mjx = ('<mjx-container class="MathJax" jax="CHTML" display="true"><mjx-math>glyphs</mjx-math>'
           '<mjx-assistive-mml><math display="block"><mfrac><mi>a</mi><mi>b</mi></mfrac></math>'
           '</mjx-assistive-mml></mjx-container>')
    out = text_of(page(f"<p>Ratio {mjx} shown.</p>"))
    assert "$$\\frac{a}{b}$$" in out.text, out.text
    assert "glyphs" not in out.text


def test_wordpress_latex_images() -> None:
    imgs = ('<img class="latex" src="https://s0.wp.com/latex.php?latex=x%5E2%2By&bg=fff" alt="x^2+y">'
            ' and <img src="https://s0.wp.com/latex.php?latex=%5Cbeta_1&bg=fff&fg=000&s=0" alt="latex">')
    out = text_of(page(f"<p>Squares {imgs} appear.</p>"))
    assert "$x^2+y$" in out.text
    assert "$\\beta_1$" in out.text


# ---- code ----------------------------------------------------------------------------------------
PY_CODE = 'def f(x):\n    """Doc."""\n\n    if x:\n        return x_1 * 2\n    return None'


def test_highlighted_code_block_verbatim_with_language() -> None:
    spans = ('<span class="k">def</span> <span class="nf">f</span><span class="p">(</span>x<span class="p">):'
             '</span>\n    <span class="s2">"""Doc."""</span>\n\n    <span class="k">if</span> x:\n'
             '        <span class="k">return</span> x_1 <span class="o">*</span> <span class="mi">2</span>\n'
             '    <span class="k">return</span> <span class="kc">None</span>\n')
    html = page(f'<div class="highlight-python notranslate"><div class="highlight"><pre>{spans}</pre>'
                '</div></div>')
    out = text_of(html)
    assert f"```python\n{PY_CODE}\n```" in out.text
    assert out.n_code_blocks == 1


@pytest.mark.parametrize("markup", [
    '<pre><code class="language-python">{code}</code></pre>',
    '<pre class="lang-py prettyprint">{code}</pre>',
    '<pre class="brush: python; gutter: false">{code}</pre>',
    '<pre data-lang="python">{code}</pre>',
])
def test_code_language_declarations(markup: str) -> None:
    import html as htmllib

    out = text_of(page(markup.format(code=htmllib.escape(PY_CODE))))
    assert f"```python\n{PY_CODE}\n```" in out.text


def test_code_table_with_line_number_gutter() -> None:
    rows = "".join(f'<tr><td class="blob-num" data-line-number="{i}">{i}</td>'
                   f'<td class="blob-code blob-code-inner">{line}</td></tr>'
                   for i, line in enumerate(["int main() {", "  return 0;", "}"], 1))
    out = text_of(page(f'<table class="highlight tab-size">{rows}</table>'))
    assert "```\nint main() {\n  return 0;\n}\n```" in out.text
    pyg = ('<table class="highlighttable"><tr><td class="linenos"><div class="linenodiv"><pre>1\n2</pre>'
           '</div></td><td class="code"><div class="highlight"><pre><span class="n">a</span> = 1\n'
           '<span class="n">b</span> = 2\n</pre></div></td></tr></table>')
    out = text_of(page(pyg))
    assert "```\na = 1\nb = 2\n```" in out.text


def test_code_in_a_custom_element_a_figure_and_hidden_tab_panels_is_kept() -> None:
    import html as htmllib

    code = htmllib.escape(PY_CODE)
    custom = ('<copyable-code><button class="copy">Copy</button><pre><code class="language-python">'
              f'{code}</code></pre><p class="source"><a href="/s">View snippet source</a></p></copyable-code>')
    assert f"```python\n{PY_CODE}\n```" in text_of(page(custom)).text
    tabs = ('<div class="tabGroup"><section role="tabpanel"><pre class="language-bash">pip install harbour</pre>'
            '</section><section role="tabpanel" hidden aria-hidden="true"><pre class="language-bash">'
            'conda install harbour</pre></section><section role="tabpanel" style="display: none">'
            '<pre class="language-bash">uv add harbour</pre></section></div>')
    listing = (f'<figure class="listing"><pre><code class="language-python">{code}</code></pre>'
               "<figcaption>Listing 4-1: a function</figcaption></figure>")
    assert f"```python\n{PY_CODE}\n```" in text_of(page(listing)).text
    out = text_of(page(tabs))
    assert all(f"```bash\n{cmd} harbour\n```" in out.text for cmd in ("pip install", "conda install", "uv add"))
    assert out.n_code_blocks == 3


def test_code_with_br_lines_and_dollars_untouched() -> None:
    out = text_of(page('<pre class="language-bash">echo $HOME<br>  cost=$5 $x$<br><br>done</pre>'))
    assert "```bash\necho $HOME\n  cost=$5 $x$\n\ndone\n```" in out.text
    assert out.n_formulas == 0


# ---- boilerplate -----------------------------------------------------------------------------------
def test_boilerplate_removed() -> None:
    html = page("<p>Second paragraph of the real story with several more words in it.</p>").replace(
        "<body>", '<body><div class="cookie-banner">We use cookies to improve your experience. Accept all'
        '</div><div class="share-bar"><a>Share on Facebook</a></div>')
    out = text_of(html)
    assert "real story" in out.text
    for junk in ("Sections", "We use cookies", "All rights reserved", "Share on Facebook"):
        assert junk not in out.text
    assert out.title == "Test page"
    assert not out.text.startswith("Test page")  # the headline is kept as ``title``


def test_language_detection() -> None:
    french = ("Ceci est un long paragraphe en français, écrit pour que la détection de la langue du "
              "texte soit sûre et que le résultat ne dépende pas du hasard.")
    out = text_of(page(f"<p>{french}</p>").replace(FILLER, french))
    assert out.language == "fr"
    assert out.language_score is not None and 0.5 < out.language_score <= 1.0
    lang, prob = detect_language("The quick brown fox jumps over the lazy dog. " * 200)
    assert lang == "en" and 0.0 <= prob <= 1.0


# ---- decoding -------------------------------------------------------------------------------------
def test_decode_cp1252_mislabeled_as_utf8() -> None:
    raw = "<html><body><p>Café crème – “quoted” naïve</p></body></html>".encode("cp1252")
    text, enc = decode_html(raw, "utf-8")
    assert "Café crème – “quoted” naïve" in text and enc == "cp1252"


def test_decode_utf8_mislabeled_as_latin1_and_bom_and_meta() -> None:
    raw = "<p>Ærøskøbing – 東京</p>".encode()
    assert decode_html(raw, "iso-8859-1") == (raw.decode(), "utf-8")
    text, enc = decode_html(b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", None)
    assert text == "<p>café</p>" and enc == "utf-8"
    text, enc = decode_html("<p>x</p>".encode("utf-16"), None)
    assert text == "<p>x</p>" and enc.startswith("utf-16")
    meta = '<html><head><meta charset="windows-1251"></head><body>Привет мир</body></html>'
    text, enc = decode_html(meta.encode("cp1251"), None)
    assert "Привет мир" in text and enc == "cp1251"
    meta2 = '<meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS"><p>日本語</p>'
    text, enc = decode_html(meta2.encode("shift_jis"), None)
    assert "日本語" in text


def test_decode_binary_rejected() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    with pytest.raises(ValueError, match="binary"):
        decode_html(png, "utf-8")
    with pytest.raises(ValueError, match="binary"):
        decode_html(b"%PDF-1.7\n" + b"\x00\x01" * 100, None)
    assert extract_html(png).skip_reason == "binary"
    assert extract_html(gzip.compress(b"<html>x</html>")).skip_reason == "binary"


def test_extract_bytes_reports_encoding_and_skips() -> None:
    raw = page("<p>Zürich und Köln, Straße.</p>").encode("cp1252")
    out = text_of(raw, charset_hint="utf-8")
    assert "Zürich und Köln, Straße." in out.text and out.encoding == "cp1252"
    assert extract_html(b"").skip_reason == "empty_input"
    assert extract_html("   \n").skip_reason == "empty_input"
    assert extract_html(b"<html><body></body></html>").skip_reason == "empty"
    assert extract_html("x" * 2000, config=ExtractConfig(max_html_bytes=1000)).skip_reason == "too_large"
    short = page("")
    assert extract_html(short, config=ExtractConfig(min_text_chars=100_000)).skip_reason == "empty"


def test_markup_after_the_closing_html_tag_is_part_of_the_body() -> None:
    """libxml2 makes what follows ``</html>`` a second document element; browsers show it in the body."""
    html = ("<html><head><title>Blog</title></head><body><header><a href='/'>Home</a></header></body></html>\n"
            f"<div class='post'><h1>Post</h1><p>{FILLER}</p><p>Second {FILLER}</p></div> trailing words")
    root = parse_html(html)
    assert [c.tag for c in root] == ["head", "body"] and "trailing words" in root.find("body").text_content()
    for config in (ExtractConfig(), ExtractConfig(page_types=True)):
        assert "Second This paragraph" in text_of(html, config=config).text


# ---- CLI -------------------------------------------------------------------------------------------
def test_cli_html_and_gz(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.html"
    a.write_text(page("<p>Formula $x_1$ here.</p><pre>print(1)</pre>"), encoding="utf-8")
    b = tmp_path / "b.html.gz"
    b.write_bytes(gzip.compress(page("<p>Zweite Seite.</p>").encode()))
    buf = io.StringIO()
    assert run_extract_cli([str(a), str(b)], None, guarded=False, stdout=buf) == 0
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    assert [r["path"] for r in rows] == [str(a), str(b)]
    assert set(rows[0]) == {"path", "url", "text", "title", "language", "n_formulas", "n_code_blocks",
                            "page_type", "extraction_quality", "skip_reason"}
    assert rows[0]["page_type"] in ("article", "documentation", "forum", "service", "listing", "product",
                                    "collection") and 0 < rows[0]["extraction_quality"] <= 1
    assert rows[0]["n_formulas"] == 1 and rows[0]["n_code_blocks"] == 1 and "$x_1$" in rows[0]["text"]
    assert rows[1]["skip_reason"] is None and "Zweite Seite." in rows[1]["text"]


def test_cli_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run_extract_cli([str(tmp_path / "missing.html")], None, guarded=False)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "missing.html" in err and "Traceback" not in err
    assert run_extract_cli([], [str(tmp_path / "missing.warc.gz")], guarded=False) == 2


def test_cli_warc(tmp_path: Path) -> None:
    warc = pytest.importorskip("mimo.data.warc")
    path = str(tmp_path / "x.warc.gz")
    warc.write_warc([
        warc.PageToWrite(url="https://example.org/a", payload=page("<p>From the WARC.</p>").encode()),
        warc.PageToWrite(url="https://example.org/img.png", payload=b"\x89PNG\r\n\x1a\n" + bytes(300),
                         content_type="image/png"),
    ], path)
    buf = io.StringIO()
    assert run_extract_cli([], [path], guarded=True, stdout=buf) == 0
    rows = [json.loads(line) for line in buf.getvalue().splitlines()]
    ok = [r for r in rows if r["skip_reason"] is None]
    assert len(ok) == 1 and ok[0]["url"] == "https://example.org/a" and "From the WARC." in ok[0]["text"]
    assert all(r["path"] == path for r in rows)


@pytest.mark.skipif(not (ROOT / "mimo" / "cli.py").exists(), reason="mimo/cli.py not written yet")
def test_mimo_cli_extract_subprocess(tmp_path: Path) -> None:
    a = tmp_path / "a.html"
    a.write_text(page("<p>Via the main CLI.</p>"), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "mimo.cli", "extract", str(a)], capture_output=True, check=False,
                          text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.splitlines()[0])
    assert "Via the main CLI." in row["text"] and row["page_type"]
    untyped = subprocess.run([sys.executable, "-m", "mimo.cli", "extract", "--no-page-types", str(a)],
                             capture_output=True, check=False, text=True, timeout=120, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert json.loads(untyped.stdout.splitlines()[0])["page_type"] is None
    missing = subprocess.run([sys.executable, "-m", "mimo.cli", "extract", str(tmp_path / "nope.html")],
                             capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
