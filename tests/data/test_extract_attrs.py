"""A page's class and id values, collected once, give the later steps the same decisions as their own
scans of the HTML and the tree."""

from mimo.data.extract.attrs import PageAttrs
from mimo.data.extract.boilerplate import merge_split_bodies, prune_boilerplate
from mimo.data.extract.core import parse_html
from mimo.data.extract.forums import merge_forum_posts

PAGE = ("<html><body><div id='cookie-banner' class='gdpr box'>We use cookies to improve the site.</div>"
        "<main class='thread'>"
        + "".join(f"<div class='post'><div class='postbody'><div class='content'>Post {i} about limits "
                  f"of sequences.</div></div></div>" for i in range(3))
        + "</main><p>The word cookie in prose, and postbody too.</p></body></html>")


def test_values_and_lookup():
    attrs = PageAttrs.of(parse_html(PAGE))
    assert attrs.ids == ["cookie-banner"] and attrs.classes[:2] == ["gdpr box", "thread"]
    assert attrs.has("postbody") and attrs.has("cookie-banner") and not attrs.has("prose")


def test_steps_decide_the_same_with_and_without_the_collected_values():
    plain, shared = parse_html(PAGE), parse_html(PAGE)
    attrs = PageAttrs.of(shared)
    assert prune_boilerplate(plain) == prune_boilerplate(shared, attrs) == 1
    assert merge_forum_posts(plain) == merge_forum_posts(shared, attrs) == 2
    assert merge_split_bodies(plain) == merge_split_bodies(shared, attrs)
    from lxml import etree
    assert etree.tostring(plain) == etree.tostring(shared)
    bare = "<html><body><p>The word cookie in prose, and postbody too.</p></body></html>"
    tree = parse_html(bare)
    assert prune_boilerplate(tree, PageAttrs.of(tree)) == 0
    assert merge_forum_posts(tree, PageAttrs.of(tree)) == 0
