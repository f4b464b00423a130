"""Split article bodies are joined into their first chunk; chunks that each sit in their own
<article> (the items of a listicle or a feed) are left alone. Navigation cells of layout tables,
<address> footers and hit-counter or share lines are removed, and so are second copies of long lines,
a shop's interface labels and a post's tag lists."""

from mimo.data.extract.boilerplate import (
    drop_boilerplate_lines,
    drop_interface_lines,
    drop_repeated_lines,
    drop_tag_lists,
    merge_split_bodies,
    prune_address_blocks,
    prune_navigation_cells,
)
from mimo.data.extract.core import parse_html


def _chunk(i: int) -> str:
    return f'<div class="article-body"><p>Part {i} of the story about the harbour and its boats.</p></div>'


def test_body_split_by_ads_is_joined():
    ad = '<div class="ad">Buy shoes now</div>'
    root = parse_html(f"<html><body><main><div class='story'>{_chunk(0)}{ad}{_chunk(1)}{ad}{_chunk(2)}"
                      "</div></main></body></html>")
    assert merge_split_bodies(root) == 2
    bodies = root.xpath("//div[@class='article-body']")
    assert len(bodies) == 1 and all(f"Part {i}" in bodies[0].text_content() for i in range(3))


def test_chunks_in_their_own_articles_stay_apart():
    items = "".join(f"<article class='tile'><h3>Item {i}</h3>{_chunk(i)}</article>" for i in range(4))
    root = parse_html(f"<html><body><div class='zone'>{items}</div></body></html>")
    assert merge_split_bodies(root) == 0
    assert len(root.xpath("//div[@class='article-body']")) == 4


def test_chunks_with_much_other_text_between_them_stay_apart():
    brands = "<div class='brand-list'>" + "<p>Brand notes on fabrics, factories and wages. </p>" * 30 + "</div>"
    root = parse_html(f"<html><body><div class='story'><div>{_chunk(0)}</div><div>{brands}</div>"
                      f"<div>{_chunk(1)}</div></div></body></html>")
    assert merge_split_bodies(root) == 0
    assert len(root.xpath("//div[@class='article-body']")) == 2


def test_navigation_cell_of_a_layout_table_is_removed():
    nav = "<td id='leftnav'><ul><li><a href='a'>Syllabus</a></li></ul><p>Course materials for students.</p></td>"
    body = "<td id='content'><p>" + "Eigenvalues solve the characteristic equation. " * 10 + "</p></td>"
    root = parse_html(f"<html><body><table><tr>{nav}{body}</tr></table></body></html>")
    assert prune_navigation_cells(root) == 1
    assert root.find(".//td[@id='leftnav']") is None and root.find(".//td[@id='content']") is not None


def test_a_navigation_cell_holding_the_most_text_stays():
    nav = "<td class='menu'><p>" + "The long notes sit in this cell. " * 10 + "</p></td>"
    root = parse_html(f"<html><body><table><tr>{nav}<td><p>Short.</p></td></tr></table></body></html>")
    assert prune_navigation_cells(root) == 0
    assert prune_navigation_cells(parse_html("<html><body><table><tr><td class='nav'>Only cell</td></tr>"
                                             "</table></body></html>")) == 0


def test_counter_and_pin_lines_are_dropped_and_prose_is_kept():
    text = ("Moves transfer ownership.\nThis page has been visited 1234 times since 2009.\nPin it for later!\n"
            "You are visitor number 5.\nThe visitor pays the fee to pin it.")
    assert drop_boilerplate_lines(text) == "Moves transfer ownership.\nThe visitor pays the fee to pin it."


def test_repeated_long_lines_keep_their_first_copy_and_short_lines_all():
    quote = "I would cut my asset allocation to bonds after the influx of cash."
    text = f"{quote}\nSure.\nchangingtimes wrote:\n{quote}\nSure.\nI disagree with that plan."
    assert drop_repeated_lines(text) == (f"{quote}\nSure.\nchangingtimes wrote:\nSure.\n"
                                         "I disagree with that plan.")


def test_interface_labels_are_dropped_and_product_text_is_kept():
    text = ("Sort by:\nQuick View\nRunning Graphic T-Shirt\n$36\nAdd to Cart\nSale price\n"
            "Compare\nSort by price to compare the sale price of each shirt.\n- Load more -\nIn stock")
    assert drop_interface_lines(text) == ("Running Graphic T-Shirt\n$36\n"
                                          "Sort by price to compare the sale price of each shirt.")


def test_tag_lists_are_dropped_and_labels_before_prose_are_kept():
    text = ("The race starts in March.\nTags\nstock car 2018, stock car brasil, interlagos\n"
            "Tags: racing, motor sport\nTopics\nThe calendar has twelve rounds, two of them abroad, and a final in Brazil.\n"
            "Categories: News")
    assert drop_tag_lists(text) == ("The race starts in March.\nTopics\n"
                                    "The calendar has twelve rounds, two of them abroad, and a final in Brazil.\n"
                                    "Categories: News")


def test_address_footer_is_removed_and_its_tail_kept():
    root = parse_html("<html><body><p>Move semantics in C++.</p><address>Dr. D. Park, School of Computing."
                      "</address> Last line.</body></html>")
    assert prune_address_blocks(root) == 1
    text = root.text_content()
    assert "Move semantics" in text and "Park" not in text and "Last line." in text
