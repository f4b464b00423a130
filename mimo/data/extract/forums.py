"""Forum/Q&A threads: main-content detectors keep only the first post (the question); the posts
of common forum engines are gathered into the first post's container so the answers survive.
Blog comment sections are not touched (they stay boilerplate)."""

from __future__ import annotations

from lxml import etree
from lxml.html import HtmlElement

from mimo.data.extract.attrs import PageAttrs
from mimo.data.extract.boilerplate import _detach

# (substring of a class or id value of the page, XPath of one post's body) per forum engine
_ENGINES: tuple[tuple[str, etree.XPath], ...] = (
    ("js-post-body", etree.XPath("//div[contains(concat(' ', normalize-space(@class), ' '), ' js-post-body ')]")),
    ("post-text", etree.XPath("//div[contains(concat(' ', normalize-space(@class), ' '), ' post-text ')]")),
    ("crawler-post", etree.XPath("//div[contains(@class, 'crawler-post')]//div[@class='post' or @class='cooked']")),
    ("cooked", etree.XPath("//div[contains(concat(' ', normalize-space(@class), ' '), ' cooked ')]")),
    ("postbody", etree.XPath("//div[contains(concat(' ', normalize-space(@class), ' '), ' postbody ')]"
                             "/div[contains(concat(' ', normalize-space(@class), ' '), ' content ')]")),
    ("post_message_", etree.XPath("//div[starts-with(@id, 'post_message_')]")),
    ("postcontent", etree.XPath("//blockquote[contains(@class, 'postcontent')]")),
)


def merge_forum_posts(root: HtmlElement, attrs: PageAttrs | None = None) -> int:
    """Move the bodies of posts 2..n of a recognised forum thread after post 1; returns the count.
    Each engine's marker is a class or id value, looked up in ``attrs`` (collected here when not
    given)."""
    attrs = attrs if attrs is not None else PageAttrs.of(root)
    for marker, xpath in _ENGINES:
        if not attrs.has(marker):
            continue
        posts = [p for p in xpath(root) if isinstance(p.tag, str)]
        if len(posts) < 2:
            continue
        first = posts[0]
        moved = 0
        for post in posts[1:]:
            if post.getparent() is None or first in set(post.iterancestors()) \
                    or post in set(first.iterancestors()):
                continue
            wrapper = first.makeelement("div", {})
            wrapper.text = post.text
            for child in list(post):
                wrapper.append(child)
            first.append(wrapper)
            _detach(post)
            moved += 1
        return moved
    return 0
