"""Split article bodies are joined into their first chunk; chunks that each sit in their own
<article> (the items of a listicle or a feed) are left alone."""

from mimo.data.extract.boilerplate import merge_split_bodies
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
