"""Forum threads of known engines, read post by post.

A main-content detector sees one block of a thread page: it keeps the first post, or the posts with
their user blurbs (join date, message count, badges) and buttons. For engines whose markup names the
post, its author, its date and its body, the thread is read directly instead: for every post its
author, its date and its body, in page order. Quote headers ("X said:") stay, quote "Click to
expand..." links go. A page of a known engine without a readable post is left to the other steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree
from lxml.html import HtmlElement


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


@dataclass(frozen=True)
class ThreadEngine:
    """Where one forum engine puts a post and its parts (XPaths relative to the post; for the author
    and the byline, the first that gives a non-empty string wins). The byline is the line after the
    author: the post's date, or its score or number where the engine shows that instead."""

    name: str
    marker: str  # a substring every thread page of the engine has
    post: etree.XPath
    author: tuple[etree.XPath, ...]
    byline: tuple[etree.XPath, ...]
    body: etree.XPath  # the body element(s); the first is read
    drop: etree.XPath | None = None  # elements inside the body that are controls, not text


_X = etree.XPath
ENGINES: tuple[ThreadEngine, ...] = (
    ThreadEngine(
        name="xenforo", marker="bbWrapper",
        post=_X(f"//article[{_has_class('message--post')}]"),
        author=(_X("string(@data-author)"),),
        byline=(_X(f"string(.//header[{_has_class('message-attribution')}]//time[1])"),),
        body=_X(f".//div[{_has_class('bbWrapper')}]"),
        drop=_X(f".//div[{_has_class('bbCodeBlock-expandLink')}]"),
    ),
    ThreadEngine(
        name="discourse", marker="crawler-post",
        post=_X(f"//div[{_has_class('crawler-post')}]"),
        author=(_X(f"string(.//span[{_has_class('creator')}])"),),
        byline=(_X("string(.//time[1])"),),
        body=_X(".//div[@class='post' or @class='cooked']"),
    ),
    ThreadEngine(
        name="invision", marker="elComment_",
        post=_X("//article[starts-with(@id, 'elComment_')]"),
        author=(_X(f"string(.//*[{_has_class('cAuthorPane_author')}])"),  # Invision 4
                _X(f"string(.//a[{_has_class('ipsUsername')}][1])")),  # Invision 5
        byline=(_X(f"string(.//div[{_has_class('ipsComment_meta')}]//time[1])"),
              _X(f"string(.//span[{_has_class('ipsEntry__date')}]//span[{_has_class('ipsTime__long')}])")),
        body=_X(".//div[@data-role='commentContent']"),
    ),
    ThreadEngine(
        name="phpbb", marker="postprofile",
        post=_X(f"//div[{_has_class('post')} and starts-with(@id, 'p')]"),
        author=(_X(f"string(.//dl[{_has_class('postprofile')}]//a[starts-with(@class, 'username')][1])"),
                _X("string(.//p[@class='author']//a[starts-with(@class, 'username')][1])")),
        byline=(_X("string(.//p[@class='author']//time[1])"), _X("string(.//p[@class='author'])")),
        body=_X(".//div[@class='content']"),
    ),
    ThreadEngine(
        name="vbulletin", marker="post_message_",
        post=_X("//*[starts-with(@id, 'post') and not(starts-with(@id, 'post_message_'))"
                " and count(.//div[starts-with(@id, 'post_message_')]) = 1]"),
        author=(_X("string(.//a[contains(@class, 'bigusername')][1])"),
                _X("string(.//a[contains(@class, 'username')][1])")),
        byline=(_X("string(.//span[@class='date'][1])"), _X("string(.//td[@class='thead'][1])")),
        body=_X(".//div[starts-with(@id, 'post_message_')]"),
    ),
    ThreadEngine(
        name="nodebb", marker='component="post/content"',
        post=_X("//*[@component='post']"),
        author=(_X("string(.//a[@data-username][1]/@data-username)"),),
        byline=(),  # written by the page's script from an ISO timestamp
        body=_X(".//*[@component='post/content']"),
    ),
    ThreadEngine(
        name="smf", marker="post_wrapper",
        post=_X("//div[@class='post_wrapper']"),
        author=(_X("string(.//div[@class='poster']/h4//a[1])"), _X("string(.//div[@class='poster']/h4)")),
        byline=(_X(f"string(.//div[@class='keyinfo']//*[{_has_class('smalltext')}][1])"),),
        body=_X(".//div[@class='inner' and starts-with(@id, 'msg_')]"),
    ),
    ThreadEngine(  # old.reddit.com: comments nest inside their parent, stickied moderator notes are left out
        name="reddit-old", marker='data-type="comment"',
        post=_X(f"//div[@data-type='comment' or @data-type='link'][not({_has_class('stickied')})]"),
        author=(_X("string(@data-author)"),),
        byline=(_X(f"string(./div[{_has_class('entry')}]/p[{_has_class('tagline')}]"
                 f"/span[{_has_class('score')} and {_has_class('unvoted')}])"),),
        body=_X(f"./div[{_has_class('entry')}]//div[{_has_class('usertext-body')}]/div[{_has_class('md')}]"),
    ),
    ThreadEngine(
        name="gamefaqs", marker='class="msg_text"',
        post=_X("//td[@class='msg']"),
        author=(_X("string(.//a[@data-username][1]/@data-username)"),),
        byline=(_X("string(.//span[@class='message_num'])"),),
        body=_X(".//div[@class='msg_text']"),
    ),
)
_DATE_PREFIX = re.compile(r"^.*[»«]\s*|\s*»$|^(?:on|posted)\s*:?\s*", re.IGNORECASE)

#: elements that start a new line in the text of a post body
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "table", "tr", "h1", "h2", "h3",
                         "h4", "h5", "h6", "section", "article", "header", "footer", "dl", "dt", "dd", "hr",
                         "figure", "figcaption", "details", "summary"})
_SPACES = re.compile(r"[ \t\r\f\v\xa0]+")


def element_text(el: HtmlElement, skip: set[HtmlElement] | frozenset = frozenset()) -> str:
    """The text of ``el`` with a line break at every block element (``skip``: subtrees left out)."""
    parts: list[str] = []
    skipping: HtmlElement | None = None
    for event, node in etree.iterwalk(el, events=("start", "end")):
        if not isinstance(node.tag, str):
            if event == "end" and skipping is None and node is not el and node.tail:
                parts.append(node.tail)  # a comment's tail is text
            continue
        if skipping is not None:
            if event == "end" and node is skipping:
                skipping = None
                if node.tail:
                    parts.append(node.tail)
            continue
        if event == "start":
            if node in skip:
                skipping = node
                continue
            if node.tag in _BLOCK_TAGS:
                parts.append("\n")
            if node.text:
                parts.append(node.text)
        else:
            if node.tag in _BLOCK_TAGS:
                parts.append("\n")
            if node is not el and node.tail:
                parts.append(node.tail)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _post_text(engine: ThreadEngine, post: HtmlElement) -> str:
    bodies = engine.body(post)
    if not bodies:
        return ""
    body = bodies[0]
    drop = set(engine.drop(body)) if engine.drop is not None else set()
    text = element_text(body, drop | set(body.iter("script", "style", "noscript")))
    if not text:  # element_text keeps only non-empty lines
        return ""
    author = _first(engine.author, post)
    byline = _DATE_PREFIX.sub("", _first(engine.byline, post)).strip()
    return "\n".join(part for part in (author, byline, text) if part)


def _first(xpaths: tuple[etree.XPath, ...], post: HtmlElement) -> str:
    for xpath in xpaths:
        found = _SPACES.sub(" ", str(xpath(post))).strip()
        if found:
            return found
    return ""


def read_thread(root: HtmlElement, html: str) -> str | None:
    """Author, byline and body of every post of a thread of a known engine, posts apart by a blank
    line; ``None`` when the page is of no known engine or has no readable post."""
    for engine in ENGINES:
        if engine.marker not in html:
            continue
        posts = [text for post in engine.post(root) if (text := _post_text(engine, post))]
        if posts:
            return "\n\n".join(posts)
    return None
