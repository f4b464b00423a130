"""Extraction by page type: a listing keeps every card, a product page with an empty body takes its
JSON-LD description (malformed blocks are skipped), forums keep replies, and the quality score is 0
for nothing, higher for a complete-looking text than for a fragment."""

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.core import parse_html
from mimo.data.extract.listing import repeated_items
from mimo.data.extract.profiles import finish_typed, typed_config
from mimo.data.extract.quality import extraction_quality
from mimo.data.extract.structured import json_ld_objects, longest_text


def _cards(n):
    return "".join(f'<article class="card"><h2><a href="/s{i}">Story number {i} about the harbour</a></h2>'
                   f"<p>By Ann Lee. The council voted on the harbour plan for the {i}th time this year.</p>"
                   "</article>" for i in range(n))


def test_repeated_items_keep_every_card_but_not_navigation():
    nav = "<nav>" + "".join(f'<div class="item"><a href="/n{i}">Menu entry {i} with several words here ok</a></div>'
                            for i in range(9)) + "</nav>"
    root = parse_html(f"<html><body>{nav}<main>{_cards(6)}</main></body></html>")
    text = repeated_items(root)
    assert all(f"Story number {i}" in text for i in range(6)) and "Menu entry" not in text
    assert repeated_items(parse_html("<html><body><p>one paragraph only</p></body></html>")) == ""


def test_listing_page_keeps_all_cards_when_typed():
    html = f"<html><head><title>News</title></head><body><main>{_cards(8)}</main></body></html>"
    typed = extract_html(html, url="https://paper.example.com/news/", config=ExtractConfig(page_types=True))
    assert typed.page_type == "listing" and all(f"plan for the {i}th time" in typed.text for i in range(8))
    assert 0 < typed.quality <= 1


def test_product_json_ld_description_and_malformed_blocks():
    root = parse_html('<html><head><script type="application/ld+json">{"@type": "Product", "description": '
                      '"<p>Waterproof boots with a <b>grippy</b> sole and a lining that stays dry.</p>"}</script>'
                      '<script type="application/ld+json">{"@type": "Product", "name": </script></head>'
                      "<body><div>Buy</div></body></html>")
    objects, bad = json_ld_objects(root)
    assert bad == 1 and longest_text(objects, {"Product"}, "description").startswith("Waterproof boots with a grippy")
    text, step = finish_typed("product", "Buy", "", root)
    assert step == "json-ld" and "grippy sole" in text
    assert finish_typed("article", "Buy", "", root) == ("Buy", "main")


def test_forum_profile_keeps_replies_and_others_keep_the_config():
    assert typed_config("forum", ExtractConfig()).include_comments
    assert typed_config("article", ExtractConfig()) == ExtractConfig()


def test_quality_score_orders_complete_texts_above_fragments():
    assert extraction_quality(0, 500, "article") == 0.0
    full = extraction_quality(1200, 1600, "article", 0.9)
    fragment = extraction_quality(12, 1600, "article", 0.9)
    assert 0 <= fragment < full <= 1
