"""trafilatura's XPaths compiled to Python select the same elements as libxml2 does, the extraction's
output does not change when they are switched in, and the one correction made to them does what it says."""

import gzip

import pytest
from lxml import etree

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.core import _to_text, parse_html
from mimo.data.extract.fastxpaths import (
    CORRECTIONS,
    SwitchedXPath,
    content_xpaths,
    corrected,
    fast_xpaths,
    install,
    rewritten,
)
from mimo.data.extract.xpathcompile import Unsupported, compile_xpath

WCXB_PAGES = ("0076", "0084", "0152", "0516", "0535", "0562", "0001", "0265", "0668", "2833", "4126", "4789")
RE = {"re": "http://exslt.org/regular-expressions"}


def _trees(shared_dir):
    for file_id in WCXB_PAGES:
        raw = gzip.decompress((shared_dir / f"benchmarks/wcxb-dev/dev/html/{file_id}.html.gz").read_bytes())
        root = parse_html(_to_text(raw, None)[0])
        body = root.find("body")
        yield root
        yield etree.ElementTree(root)
        if body is not None and len(body):
            yield body[len(body) // 2]  # a subtree, as trafilatura passes its candidates


def test_every_content_xpath_compiles_and_selects_what_libxml2_selects(shared_dir):
    trees = list(_trees(shared_dir))
    for name, xpath in content_xpaths():
        compiled = compile_xpath(xpath.path)
        guarded = etree.XPath(rewritten(xpath.path), namespaces=RE, smart_strings=False)
        for tree in trees:
            expected = xpath(tree)
            assert compiled(tree) == expected, name
            assert guarded(tree) == expected, name


@pytest.mark.parametrize("path, html, ids", [
    # the string value of @id|@class is the first of them in the element's attribute order
    (".//*[starts-with(@id|@class, 'x')]", '<div class="x1" id="y"></div><div id="x2" class="y"></div><div id="z"></div>',
     ["0", "1"]),
    # [1] on a step: the first match among siblings; (...)[1]: the first in the document
    (".//p[@class='a'][1]", '<div><p class="b"/><p class="a"/><p class="a"/></div><div><p class="a"/></div>', ["2", "5"]),
    ("(.//p[@class='a'])[1]", '<div><p class="b"/><p class="a"/><p class="a"/></div><div><p class="a"/></div>', ["2"]),
    # unions come in document order without repeats; translate, not() and descendant tests
    (".//span|.//*[self::div or self::span][contains(translate(@class, 'T', 't'), 'tea')]",
     '<div class="Tea"><span/></div><div class="x"/>', ["0", "1"]),
    (".//div[not(.//h1) or re:test(@class, '^k', 'i')]", '<div class="K"><h1/></div><div><h1/></div><div/>', ["0", "4"]),
])
def test_compiled_xpath_semantics(path, html, ids):
    root = etree.fromstring(f"<body>{html}</body>", etree.HTMLParser()).find("body")
    for n, el in enumerate(root.iter()):
        if el is not root:
            el.set("n", str(n - 1))
    expected = etree.XPath(path, namespaces=RE)(root)
    assert [el.get("n") for el in expected] == ids
    assert compile_xpath(path)(root) == expected


@pytest.mark.parametrize("path", ["//div[position() > 2]", ".//div[@a != 'b']", ".//p/text()", ".//div[2]"])
def test_xpath_outside_the_subset_is_refused(path):
    with pytest.raises(Unsupported):
        compile_xpath(path)


def test_rewrite_guards_only_patterns_that_cannot_match_nothing():
    assert rewritten("re:test(@class, 'a|b')") == "(boolean(@class) and re:test(@class, 'a|b'))"
    assert rewritten("re:test(@class, '^$|x')") == "re:test(@class, '^$|x')"


def test_switch_is_on_only_inside_the_block_and_output_is_unchanged(shared_dir):
    import trafilatura
    import trafilatura.xpaths as xpaths

    install()
    switched = xpaths.OVERALL_DISCARD_XPATH[0]
    assert isinstance(switched, SwitchedXPath)
    raw = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/0265.html.gz").read_bytes())
    config = ExtractConfig(page_types=True)
    plain = trafilatura.extract(raw)
    with fast_xpaths():
        assert trafilatura.extract(raw) == plain
    assert extract_html(raw, config=config).text  # the package's path runs with them switched in


def test_the_corrections_keep_content_blocks_but_not_bars_embeds_sliders_or_expand_buttons():
    import trafilatura.xpaths as xpaths

    install()
    assert all(old in dict(content_xpaths())[f"{name}[0]"].path for name, old, _ in CORRECTIONS)
    html = ('<html><body><div class="bard"><p>Article body.</p></div><div class="barcode">0123</div>'
            '<div class="sidebar">Side</div><div class="nav-bar">Nav</div><div class="toolbar x">T</div>'
            '<div class="w-embed">Table</div><div class="wp-block-embed">Tweet</div><div class="embedded">V</div>'
            '<div class="listicle-slides x">Items</div><div class="slider">Carousel</div>'
            '<div class="expandable">More text</div><div class="expand-button">+</div></body></html>')
    root = etree.fromstring(html, etree.HTMLParser())
    original = xpaths.OVERALL_DISCARD_XPATH[0].original
    discarded = ["sidebar", "nav-bar", "toolbar x", "wp-block-embed", "embedded", "slider", "expand-button"]
    assert [e.get("class") for e in original(root)] == ["bard", "barcode", *discarded[:3], "w-embed",
                                                        *discarded[3:5], "listicle-slides x", "slider",
                                                        "expandable", "expand-button"]
    fixed = corrected("OVERALL_DISCARD_XPATH", original)
    assert [e.get("class") for e in fixed(root)] == discarded
    with fast_xpaths():
        assert [e.get("class") for e in xpaths.OVERALL_DISCARD_XPATH[0](root)] == discarded
    assert corrected("BODY_XPATH", original) is original


def test_a_statamic_bard_article_is_extracted(shared_dir):
    """WCXB dev 0113: the article sits in ``div.bard``, which trafilatura's own pattern discards."""
    raw = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/0113.html.gz").read_bytes())
    out = extract_html(raw, config=ExtractConfig(page_types=True))
    assert "Online learning has become a standard way" in out.text and len(out.text.split()) > 700
