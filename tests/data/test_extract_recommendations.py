"""Recommendation blocks: a product page loses its "also viewed" carousel and its customer reviews and
keeps its description, an article loses "Related stories" teasers and paragraphs that are one link to
another story but never its own prose or links within a sentence, a hidden
placeholder heading, a "Description | Reviews" tab bar and a list of stories (whose teasers are its
content) are left alone."""

import gzip

from lxml import etree

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.core import parse_html
from mimo.data.extract.recommendations import prune_recommendations

DESCRIPTION = "<p>Hand-thrown stoneware mug, glazed and fired twice, holds 350 ml of coffee or tea.</p>"


def _cards(n):
    return "".join(f"<li><a href='/p{i}'>Other mug number {i}</a><span>$2{i}.00</span></li>" for i in range(n))


def _text(root):
    return " ".join(etree.tostring(root, method="text", encoding="unicode").split())


def test_product_carousel_is_removed_and_description_kept():
    page = (f"<html><body><div class='page'><h1>Stoneware mug</h1>{DESCRIPTION}"
            f"<div class='carousel'><div class='head'><h2>Customers who viewed this item also viewed</h2></div>"
            f"<ul>{_cards(6)}</ul></div></div><footer>Shop footer. {'Opening hours and addresses. ' * 30}</footer>"
            "</body></html>")
    root = parse_html(page)
    assert prune_recommendations(root, "product") == 1
    text = _text(root)
    assert "350 ml" in text and "Other mug" not in text and "also viewed" not in text and "Shop footer" in text


def test_block_stops_where_other_text_comes_before_its_heading():
    page = (f"<html><body><div class='details'>{DESCRIPTION * 3}<h2>Recently viewed</h2><ul>{_cards(3)}</ul>"
            "</div><div>Another part of the page with enough text to keep shares small.</div></body></html>")
    root = parse_html(page)
    prune_recommendations(root, "product")
    text = _text(root)
    assert text.count("350 ml") == 3 and "Recently viewed" not in text


def test_article_teasers_go_but_the_prose_around_them_stays():
    prose = "".join(f"<p>{'The harbour board met again on Monday to discuss the new breakwater plan ' * 4}{i}</p>"
                    for i in range(4))
    page = (f"<html><body><div class='post'><div class='box'><strong>Popular posts:</strong>"
            f"<a href='/a'>A focaccia for Thanksgiving</a><a href='/b'>Living with deer</a></div>{prose}</div>"
            f"<section><h3>Related stories</h3><ul>{_cards(4)}</ul></section>"
            "<div>" + "Filler text of the page. " * 40 + "</div></body></html>")
    root = parse_html(page)
    assert prune_recommendations(root, "article") == 2
    text = _text(root)
    assert text.count("breakwater plan") == 16 and "focaccia" not in text and "Other mug" not in text


def test_lists_keep_story_headings_and_hidden_headings_are_ignored():
    page = (f"<html><body><h2>Latest news</h2><ul>{_cards(4)}</ul>"
            "<div class='c'><div class='related'><p style='visibility: hidden'>Related products</p></div>"
            f"{DESCRIPTION}</div></body></html>")
    root = parse_html(page)
    assert prune_recommendations(root, "listing") == 0
    assert prune_recommendations(root, "article") == 1  # "Latest news" is a teaser block on an article
    assert "350 ml" in _text(root)
    assert prune_recommendations(parse_html("<html><body><p>Nothing to see</p></body></html>"), None) == 0


def test_product_reviews_go_unless_their_heading_is_a_tab_label():
    review = "<p>Great mug, keeps my tea warm and the glaze is lovely. Verified purchase.</p>"
    page = (f"<html><body><div class='product'><h1>Stoneware mug</h1>{DESCRIPTION}"
            f"<section><h2>Customer reviews</h2>{review * 3}</section></div>"
            f"<footer>{'Opening hours and addresses. ' * 30}</footer></body></html>")
    root = parse_html(page)
    assert prune_recommendations(root, "product") == 1
    assert "350 ml" in _text(root) and "Verified purchase" not in _text(root)
    assert prune_recommendations(parse_html(page), "article") == 0  # reviews are removed on product pages only
    tabs = (f"<html><body><div class='tabs'><ul><li><span>Description</span></li><li><span>Reviews (3)</span></li></ul>"
            f"<div class='panel'>{DESCRIPTION}</div></div><footer>{'Opening hours. ' * 40}</footer></body></html>")
    root = parse_html(tabs)
    prune_recommendations(root, "product")
    assert "350 ml" in _text(root)


def test_article_paragraphs_that_are_one_link_to_another_story_go():
    page = ("<html><body><article><p>The council met on Monday to vote on the harbour plan.</p>"
            "<p><a href='/news/other'>Hong Kong threatened with military intervention</a></p>"
            "<p><strong><a href='/news/more'>SEAN SPICER ELIMINATED FROM THE SHOW</a></strong></p>"
            "<p>Read <a href='/report.pdf'>the full report of the harbour board</a> for the figures.</p>"
            "<p><a href='/news/plan'>The plan was approved by nine votes to two.</a></p>"
            "<p><a href='#top'>Back to the top of this page</a></p><p><a href='/a'>Short link</a></p>"
            "</article></body></html>")
    root = parse_html(page)
    assert prune_recommendations(root, "article") == 2
    text = _text(root)
    assert "Hong Kong" not in text and "SPICER" not in text
    assert all(kept in text for kept in ("harbour plan", "full report", "nine votes", "Back to the top", "Short link"))
    assert prune_recommendations(parse_html(page), "listing") == 0  # a list's links are its content


def test_extraction_of_a_real_product_page_drops_its_carousels(shared_dir):
    """WCXB dev 3021, an eBay item: its "People who viewed this item also viewed" and "Similar items"
    carousels (3,500 words of other items) go, the item itself stays."""
    html = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/3021.html.gz").read_bytes())
    out = extract_html(html, url="https://www.ebay.com/itm/276702815108", config=ExtractConfig(page_types=True))
    assert out.page_type == "product"
    assert "next 3 pack ladies top" in out.text and "eBay item number" in out.text
    assert "also viewed" not in out.text and len(out.text.split()) < 300
