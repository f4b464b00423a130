"""Page types from the URL, structured data and the DOM; malformed JSON-LD and empty pages fall back
to the next stage; the learned model classifies what the rules cannot, and its held-out accuracy
ships with its weights."""

import json

import numpy as np
import pytest

from mimo.data.extract.core import parse_html
from mimo.data.extract.pagetype import PAGE_TYPES, classify_page, ld_types
from mimo.data.extract.pagetype_model import WEIGHTS, page_features, predict_page_type


def _classify(html, url=None):
    return classify_page(parse_html(html), html, url)


@pytest.mark.parametrize("url,kind", [
    ("https://community.example.org/t/how-to-fix/123", "forum"),
    ("https://stackoverflow.com/questions/1/why", "forum"),
    ("https://docs.example.com/en/latest/install.html", "documentation"),
    ("https://shop.example.com/products/red-shoe", "product"),
    ("https://shop.example.com/collections/shoes", "collection"),
    ("https://agency.example.com/services/seo", "service"),
    ("https://paper.example.com/news/", "listing"),
])
def test_url_stage(url, kind):
    got = _classify("<html><body><p>Some words here.</p></body></html>", url)
    assert (got.kind, got.source) == (kind, "url")


def test_structured_data_and_og_type():
    product = '<html><head><script type="application/ld+json">{"@type": "Product", "name": "x"}</script></head>' \
              "<body><p>A fine shoe for walking long distances in comfort.</p></body></html>"
    assert _classify(product).kind == "product"
    graph = '<script type="application/ld+json">{"@graph": [{"@type": ["WebPage", "QAPage"]}]}</script>'
    assert _classify(f"<html><head>{graph}</head><body><p>Question?</p></body></html>").kind == "forum"
    og = '<html><head><meta property="og:type" content="product.group"></head><body><p>All shoes.</p></body></html>'
    assert _classify(og).kind == "collection"


def test_malformed_json_ld_and_bare_pages_do_not_crash():
    broken = '<html><head><script type="application/ld+json">{"@type": "Product", "name": </script></head>' \
             "<body><p>text</p></body></html>"
    assert _classify(broken).kind == "product"  # the type is still read; the rest is ignored
    assert ld_types('{"@type": [}') == set()
    assert _classify("<html><body></body></html>").kind in PAGE_TYPES
    got = _classify("<html><body><p>" + "word " * 200 + "</p></body></html>")
    assert (got.kind, got.source) == ("article", "default")


def test_dom_stage_product_grid_and_link_list():
    cards = "".join(f'<div class="product-card"><a href="/p{i}">Shoe {i}</a><button>Add to cart</button></div>'
                    for i in range(6))
    assert _classify(f"<html><body>{cards}</body></html>").kind == "collection"
    links = "".join(f'<li><a href="/a{i}">Story {i}</a></li>' for i in range(40))
    assert _classify(f"<html><body><ul>{links}</ul></body></html>").kind == "listing"


@pytest.mark.skipif(not WEIGHTS.exists(), reason="no trained page-type weights in this checkout")
def test_learned_model_predicts_and_reports_its_held_out_accuracy():
    report = json.loads(str(np.load(WEIGHTS)["report"]))
    assert report["held_out_pages"] >= 200 and report["held_out_accuracy"] >= 0.8
    html = '<html><head><title>Reply to thread</title></head><body><div class="message-list">' + "".join(
        f'<article class="message post"><div class="message-user">user{i}</div><div class="message-body">'
        f"<p>I tried that and it did not work for me, any other idea? {i}</p></div></article>" for i in range(8)) + \
        "</div></body></html>"
    got = predict_page_type(parse_html(html), html, "https://example.com/threads/help.42/")
    assert got.source == "model" and got.kind == "forum"
    assert "url:forum" in page_features(parse_html(html), html, "https://example.com/threads/help.42/")


def test_unsure_model_defers_to_an_article_in_json_ld(monkeypatch):
    import mimo.data.extract.pagetype_model as model

    def page(ld_type: str) -> str:
        return (f'<html><head><script type="application/ld+json">{{"@type": "{ld_type}"}}</script></head>'
                "<body><p>Ministers met on Tuesday.</p></body></html>")

    weight = np.zeros((model.BUCKETS, len(PAGE_TYPES)), dtype=np.float32)
    bias = np.zeros(len(PAGE_TYPES), dtype=np.float32)
    bias[PAGE_TYPES.index("listing")] = 0.5  # unsure: listing first, well under SURE
    monkeypatch.setattr(model, "_load", lambda: (weight, bias))
    news = page("NewsArticle")
    got = predict_page_type(parse_html(news), news)
    assert (got.kind, got.source) == ("article", "json-ld") and got.confidence < model.SURE
    listed = page("ItemList")
    assert predict_page_type(parse_html(listed), listed).kind == "listing"
    bias[PAGE_TYPES.index("listing")] = 5.0  # sure: the model's verdict stands
    assert predict_page_type(parse_html(news), news).kind == "listing"
