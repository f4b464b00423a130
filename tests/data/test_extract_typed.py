"""Extraction by page type: a listing keeps every card and a service page every section (merged
content blocks), a collection its category text, a product page with an empty body takes its JSON-LD
description (malformed blocks are skipped), forums keep replies, math/code articles take the recall pass
only when the typed text lost a formula or code block, the fallback extractors run only where the fast
pass covers little of the page, and the quality score is 0 for nothing, higher for a complete-looking
text than for a fragment."""

import gzip
import math
from dataclasses import replace

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.core import _to_text, parse_html
from mimo.data.extract import profiles
from mimo.data.extract.mainpass import run_trafilatura
from mimo.data.extract.profiles import (
    FALLBACK_BELOW_COVERAGE,
    RECALL_BELOW_COVERAGE,
    RECALL_LONGER,
    SECTIONS_UNSURE,
    adds_teasers,
    drops_prose_lists,
    extract_typed,
    keep_protected,
    main_text,
    menu_like,
    sections_rule,
    typed_config,
)
from mimo.data.extract.quality import document_words, extraction_quality, visible_words
from mimo.data.extract.sections import category_intro, merged_sections
from mimo.data.extract.structured import json_ld_objects, longest_text


def _cards(n):
    return "".join(f'<article class="card"><h2><a href="/s{i}">Story number {i} about the harbour</a></h2>'
                   f"<p>By Ann Lee. The council voted on the harbour plan for the {i}th time this year.</p>"
                   "</article>" for i in range(n))


def test_merged_sections_keep_every_card_but_not_navigation():
    nav = "<nav>" + "".join(f'<div class="item"><a href="/n{i}">Menu entry {i} with several words here ok</a></div>'
                            for i in range(9)) + "</nav>"
    foot = '<div class="footer">Copyright and a long list of legal words that nobody reads at all</div>'
    root = parse_html(f"<html><body>{nav}<main>{_cards(6)}</main>{foot}</body></html>")
    text = merged_sections(root)
    assert all(f"Story number {i}" in text for i in range(6))
    assert "Menu entry" not in text and "Copyright" not in text
    assert text.index("Story number 0") < text.index("Story number 5")  # page order
    assert merged_sections(parse_html("<html><body><p>short</p></body></html>")) == ""


def test_a_chrome_named_wrapper_around_the_whole_page_is_not_chrome():
    side = '<div class="sidebar"><p>Archive of older lists and a long blurb about the editors of it.</p></div>'
    page = f'<div class="flex-wrap-footer"><main>{_cards(6)}</main>{side}</div>'
    text = merged_sections(parse_html(f"<html><body>{page}</body></html>"))
    assert all(f"Story number {i}" in text for i in range(6)) and "Archive" not in text


def test_service_page_keeps_every_section():
    sections = "".join(f'<section class="offer"><h2>Offer {i}</h2><p>We plan, build and run the '
                       f"{i}th kind of harbour system for towns and ports of every size.</p></section>"
                       for i in range(7))
    html = (f'<html><head><title>Services</title></head><body><div class="hero"><h1>Harbour services</h1>'
            f"</div>{sections}</body></html>")
    out = extract_html(html, url="https://firm.example.com/services/", config=ExtractConfig(page_types=True))
    assert out.page_type == "service" and all(f"{i}th kind" in out.text for i in range(7))


def test_category_intro_is_found():
    root = parse_html('<html><body><div class="collection-description"><p>Boots for wet trails, '
                      "picked by our team for grip, warmth and a dry lining.</p></div></body></html>")
    assert category_intro(root).startswith("Boots for wet trails")
    assert category_intro(parse_html("<html><body><p>nothing</p></body></html>")) == ""


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
    text, step = extract_typed("product", root, None, typed_config("product", ExtractConfig()))
    assert step == "json-ld" and "grippy sole" in text
    assert "grippy" not in extract_typed("article", root, None, ExtractConfig())[0]


def test_typed_settings():
    forum = typed_config("forum", ExtractConfig())
    assert forum.include_comments and not forum.favor_recall and not forum.fast  # balanced, with fallbacks
    assert not typed_config("article", ExtractConfig()).fast
    assert not typed_config("documentation", ExtractConfig()).fast


def test_merge_rule_is_looser_for_a_confident_type_and_never_for_articles():
    """A confidently typed listing takes its merged blocks once they are 1.2 times the main text; an
    unsure one (often an article taken for a listing) needs 1.5 times and a main text under 3,000 chars."""
    assert sections_rule("listing", 0.9) == (1.2, math.inf)
    assert sections_rule("listing", 0.36) == SECTIONS_UNSURE == (1.5, 3000)
    assert sections_rule("product", 0.9) == sections_rule("product", 0.3) == (5.0, 2000)  # already stricter
    assert sections_rule("article", 0.2) == sections_rule("article", 0.9) == (0.0, 0)


def test_article_with_code_takes_the_recall_pass_only_when_the_typed_text_loses_a_block():
    """An article's typed text that keeps its code block stays; one that lost it gives way to the
    recall pass, which keeps it; other types never do."""
    from mimo.data.extract.code import protect_code
    from mimo.data.extract.placeholders import PlaceholderTable

    prose = "".join(f"<p>Paragraph {i} explains how the harbour model is fitted, step by step, with care.</p>"
                    for i in range(8))
    html = (f"<html><body><article><h1>Fitting</h1>{prose}<pre><code class='language-python'>"
            "def fit(x):\n    return x * 2\n</code></pre>" + prose + "</article></body></html>")
    root, table = parse_html(html), PlaceholderTable.for_document(html)
    protect_code(root, table)
    config = ExtractConfig()
    recall = run_trafilatura(root, None, config)
    assert table.prefix in recall
    assert keep_protected("article", recall + " x", "main", root, None, config, table.items) == (recall + " x", "main")
    assert keep_protected("article", "no code here", "main", root, None, config, table.items) == (recall, "recall")
    assert keep_protected("service", "no code here", "main", root, None, config, table.items)[0] == "no code here"
    out = extract_html(html, config=ExtractConfig(page_types=True))
    assert "return x * 2" in out.text and out.n_code_blocks == 1


def test_fallback_extractors_run_only_when_the_fast_pass_covers_little(shared_dir):
    """A real page (WCXB dev 4617) whose fast pass keeps a tenth of the article: the gate sends it
    to the fallback extractors, which recover it; a page the fast pass covers keeps the fast text."""
    html = _to_text(gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/4617.html.gz").read_bytes()), None)[0]
    config = typed_config("article", ExtractConfig())
    root = parse_html(html)
    page_words = visible_words(root)  # trafilatura leaves the tree as it is
    fast = run_trafilatura(root, None, replace(config, fast=True))
    assert len(fast.split()) < FALLBACK_BELOW_COVERAGE * page_words
    gated = main_text(root, None, config, page_words)
    assert gated == run_trafilatura(root, None, config) and len(gated.split()) > 3 * len(fast.split())
    assert main_text(root, None, config, len(fast.split())) == fast  # covered: no fallback
    assert main_text(root, None, replace(config, fast=True), page_words) == fast  # fast asked: never


def test_page_whose_article_sits_in_its_header_gets_the_recall_pass(shared_dir):
    """WCXB dev 4111: the whole article is inside a <header>, where the balanced pass and the fallback
    extractors find nothing; the recall pass recovers it instead of an empty page."""
    html = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/4111.html.gz").read_bytes())
    root = parse_html(_to_text(html, None)[0])
    assert not run_trafilatura(root, None, typed_config("article", ExtractConfig()))
    out = extract_html(html, config=ExtractConfig(page_types=True))
    assert out.skip_reason is None and len(out.text.split()) > 1500 and "Non-toxic clothing" in out.text


def test_quality_score_orders_complete_texts_above_fragments():
    assert extraction_quality("", 500, "article") == 0.0
    prose = "\n".join(["A full line of running prose about the harbour and its many old boats."] * 80)
    full = extraction_quality(prose, 1200, "article")
    fragment = extraction_quality("Home\nShop\nAbout us", 1200, "article")
    assert 0 <= fragment < full <= 1
    assert extraction_quality(prose, 1200, "collection") < full  # collections are harder: less confidence


def test_bad_input_by_type_is_a_reason_or_a_fallback():
    typed = ExtractConfig(page_types=True)
    spa = '<html><head><title>App</title><script>window.boot()</script></head><body><div id="root"></div></body></html>'
    out = extract_html(spa, url="https://app.example.com/", config=typed)
    assert out.text is None and out.skip_reason == "empty"  # counted, never a silent empty text
    cards = "".join(f'<div class="card"><h3>Item {i}</h3><p>A short summary of item {i} for the list.</p></div>'
                    for i in range(20_000))
    huge = f"<html><body><main>{cards}</main></body></html>"
    out = extract_html(huge, url="https://shop.example.com/list/", config=typed)
    assert out.skip_reason is None and "Item 0" in out.text
    shell = '<html><body><div id="app"><p>You need to enable JavaScript to run this app.</p></div></body></html>'
    assert extract_html(shell, url="https://shop.example.com/c/1", config=typed).skip_reason == "shell"
    assert extract_html(shell, url="https://shop.example.com/c/1").skip_reason is None  # untyped: min_text_chars only
    unknown = extract_html("<html><body><p>" + "plain words " * 40 + "</p></body></html>", config=typed)
    assert unknown.page_type in ("article", "documentation", "forum", "service", "listing", "product", "collection")
    assert unknown.text and 0 < unknown.quality <= 1


def test_shell_rule_counts_words_of_unspaced_scripts():
    """Japanese has no spaces: 18 whitespace pieces can be a whole article. Each Han/kana/Hangul
    character counts as a word, so such a page is never skipped as an app shell."""
    assert document_words("no spaces here") == 3
    assert document_words("商標には、同じ") == 7  # one piece, six characters
    article = "<html><body><article>" + "".join(f"<p>不正に改造したiPhoneを販売したとして{i}。</p>" for i in range(12)) \
        + "</article></body></html>"
    out = extract_html(article, url="https://news.example.jp/a/1", config=ExtractConfig(page_types=True))
    assert out.skip_reason is None and out.text.count("不正に改造") == 12


def test_fallback_text_that_adds_teasers_of_other_articles_is_not_taken(shared_dir):
    """A fallback text whose added lines are mostly excerpts cut off with an ellipsis is other articles'
    teasers: the fast text stays. Article benchmark page b3c19dd5: the fast pass is the whole article
    (139 words) but covers under a fifth of the page; the fallbacks added four teasers (precision 0.20)."""
    article = "Viver uma verdadeira experiência amorosa é um dos maiores prazeres da vida."
    teasers = article + "\nA vida requer da gente otimismo e coragem para …\nBem-aventurados os que …\nMore here."
    assert adds_teasers(article, teasers)
    assert not adds_teasers(article, article + "\nA second paragraph of the same article.\nAnd a third one.")
    assert not adds_teasers(article, article)  # nothing added
    html = gzip.decompress((shared_dir / "benchmarks/article_extraction/html/"
                            "b3c19dd5f0612d098788fa5173e491b3280da6226b492f8fe110f4ab1896cca8.html.gz").read_bytes())
    out = extract_html(html, config=ExtractConfig(page_types=True))
    assert out.text.startswith(article) and "…" not in out.text and len(out.text.split()) < 200


def test_main_text_that_is_a_menu_gives_way_to_the_recall_pass(shared_dir):
    """Article benchmark page f6ac15a4: a city-hall news item whose text sits in a bare <div> beside
    800 menu entries. trafilatura's balanced pass returns the menus (nearly every line one to three
    words); the recall pass finds the news item, which is prose, and replaces them."""
    assert menu_like("Home\nAbout us\nNews\nContact the mayor\nA line with more than three words")
    assert not menu_like("Home\nA line of prose with more than three words in it\nAnd another line of prose")
    html = gzip.decompress((shared_dir / "benchmarks/article_extraction/html/"
                            "f6ac15a4d98511396da23e4428deb5605422b1c8bbc8284e771f6896bdccf57f.html.gz").read_bytes())
    out = extract_html(html, config=ExtractConfig(page_types=True))
    assert "A equipe do Serviço de Atendimento Domiciliar" in out.text
    assert "Galeria dos Prefeitos" not in out.text and len(out.text.split()) < 600


def _wcxb_root(shared_dir, file_id):
    html = gzip.decompress((shared_dir / f"benchmarks/wcxb-dev/dev/html/{file_id}.html.gz").read_bytes())
    root = parse_html(_to_text(html, None)[0])
    return root, visible_words(root)


def test_an_article_whose_balanced_text_drops_its_prose_lists_takes_the_recall_text(shared_dir):
    """WCXB dev 4252: the balanced pass keeps 534 of the page's 1,747 words and drops the article's
    feature lists ("Invoicing Customization: ..."); the recall pass, over twice as long, keeps them. A
    page whose text covers most of the page never runs the recall pass."""
    root, page_words = _wcxb_root(shared_dir, "4252")
    config = typed_config("article", ExtractConfig())
    balanced = main_text(root, None, config, page_words)
    assert "Invoicing Customization" not in balanced and len(balanced.split()) < RECALL_BELOW_COVERAGE * page_words
    assert drops_prose_lists(root, balanced)
    text, step = extract_typed("article", root, None, config, page_words)
    assert step == "recall" and "Invoicing Customization" in text and len(text.split()) > 2 * len(balanced.split())
    assert extract_typed("article", root, None, config, len(balanced.split())) == (balanced, "main")


def test_with_longer_recall_every_article_covering_little_of_its_page_is_compared(shared_dir):
    """WCXB dev 4040: the balanced pass drops three paragraphs of the story, no list; only with
    ``longer_recall`` is the recall pass compared (off by default: an extra pass on most articles)."""
    root, page_words = _wcxb_root(shared_dir, "4040")
    balanced = main_text(root, None, typed_config("article", ExtractConfig()), page_words)
    assert not drops_prose_lists(root, balanced)
    assert extract_typed("article", root, None, typed_config("article", ExtractConfig()), page_words)[1] == "main"
    text, step = extract_typed("article", root, None, typed_config("article", ExtractConfig(longer_recall=True)),
                               page_words)
    assert step == "recall" and "first coffee house was opened in Constantinople" in text


def test_drops_prose_lists_counts_only_content_list_items_missing_from_the_text():
    items = "".join(f"<li>Feature {i} keeps the ledger in order</li>" for i in range(4))
    links = "".join(f'<li><a href="/p{i}">Another story about the ledger {i}</a></li>' for i in range(4))
    html = (f"<html><body><nav><ul>{items.replace('Feature', 'Menu')}</ul></nav><header><nav><main><ul>{items}</ul>"
            f"</main></nav></header><ul>{links}</ul><footer><ul>{items.replace('Feature', 'Foot')}</ul></footer>"
            "</body></html>")
    root = parse_html(html)
    assert drops_prose_lists(root, "A short text.")  # the four features, in a <main> inside a <nav>
    kept = "\n".join(f"- Feature {i} keeps the ledger in order" for i in range(4))
    assert not drops_prose_lists(root, kept)
    assert not drops_prose_lists(root, "word " * 200)  # four items of 7 words: under a fifth of the text


def test_a_documentation_page_whose_balanced_text_drops_a_table_column_takes_the_recall_text(shared_dir, monkeypatch):
    """WCXB dev 0424, a course page: the balanced pass leaves out the readings column of the schedule
    (its cells are mostly links); on documentation pages the recall pass is compared by default and
    replaces the text when much longer."""
    html = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/0424.html.gz").read_bytes())
    config, url = ExtractConfig(page_types=True), "https://www.sitanchen.com/cs224/f23/index.html"
    out = extract_html(html, url=url, config=config)
    assert out.page_type == "documentation" and "Airy disks and mixture models" in out.text
    monkeypatch.setattr(profiles, "RECALL_TYPES", ())
    balanced = extract_html(html, url=url, config=config)
    assert "Tensors I: Jennrich's algorithm" in balanced.text and "Airy disks" not in balanced.text
    assert len(out.text.split()) > RECALL_LONGER * len(balanced.text.split())


def test_a_collection_takes_its_seo_copy_block(shared_dir):
    """WCXB dev 4296: the category text sits in ``div.field-seofootercopy`` below the product grid,
    which the page's HTML leaves empty (it is filled by script); it is the page's text."""
    html = gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/4296.html.gz").read_bytes())
    root = parse_html(_to_text(html, None)[0])
    assert "honor our heritage of shoemaking" in category_intro(root)
    out = extract_html(html, config=ExtractConfig(page_types=True))
    assert out.page_type == "collection" and "honor our heritage of shoemaking" in out.text
