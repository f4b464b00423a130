"""Forum threads of known engines are read post by post (author, date, body), quote headers stay and
expand links go; pages of no known engine, or without a readable post, are left to the other steps."""

import gzip

from mimo.data.extract import ExtractConfig, extract_html
from mimo.data.extract.core import _to_text, parse_html
from mimo.data.extract.threads import element_text, read_thread


def _smf_post(i: int, author: str, body: str) -> str:
    return (f'<div class="windowbg" id="msg{i}"><div class="post_wrapper"><div class="poster"><h4>'
            f'<a href="/profile;u={i}">{author}</a></h4><ul class="user_info"><li class="postcount">Posts: 3,760'
            f'</li></ul></div><div class="postarea"><div class="keyinfo"><div class="postinfo">'
            f'<a href="/msg={i}" class="smalltext">June 0{i}, 2024, 11:23:55 AM</a></div></div>'
            f'<div class="post"><div class="inner" id="msg_{i}">{body}</div></div></div></div></div>')


def test_smf_thread_keeps_every_post_with_author_and_date_and_drops_user_blurbs():
    posts = [_smf_post(1, "Ada", "How do I prove that <b>every</b> prime above 2 is odd?<br>Thanks."),
             _smf_post(2, "Brook", "An even number above 2 has the divisor 2, so it is not prime."),
             _smf_post(3, "Ada", "Got it, thank you!")]
    root = parse_html(f"<html><body><div id='forumposts'>{''.join(posts)}</div></body></html>")
    text = read_thread(root, "post_wrapper")
    assert text.split("\n\n") == [
        "Ada\nJune 01, 2024, 11:23:55 AM\nHow do I prove that every prime above 2 is odd?\nThanks.",
        "Brook\nJune 02, 2024, 11:23:55 AM\nAn even number above 2 has the divisor 2, so it is not prime.",
        "Ada\nJune 03, 2024, 11:23:55 AM\nGot it, thank you!"]
    assert "Posts:" not in text


def test_pages_of_no_known_engine_or_without_posts_are_left_alone():
    root = parse_html("<html><body><div class='post_wrapper'><p>no body here</p></div></body></html>")
    assert read_thread(root, "post_wrapper") is None  # the engine's marker, but no readable post
    assert read_thread(parse_html("<html><body><p>An article.</p></body></html>"), "<p>An article.</p>") is None


def test_element_text_breaks_lines_at_blocks_only():
    root = parse_html("<html><body><div id='x'>one <b>two</b> three<p>four</p>five<br>six"
                      "<div class='ctl'>Click to expand...</div></div></body></html>")
    el = root.get_element_by_id("x")
    assert element_text(el) == "one two three\nfour\nfive\nsix\nClick to expand..."
    assert element_text(el, {el.find_class("ctl")[0]}) == "one two three\nfour\nfive\nsix"


def test_real_xenforo_thread_is_read_post_by_post(shared_dir):
    """WCXB dev 0516: a XenForo thread under an AI summary box. The main-content pass took the summary
    and lost most posts; the thread reader keeps every post, quote headers included, without the
    quote's "Click to expand..." link."""
    html = _to_text(gzip.decompress((shared_dir / "benchmarks/wcxb-dev/dev/html/0516.html.gz").read_bytes()), None)[0]
    out = extract_html(html, url="https://www.physicsforums.com/threads/buying-microsoft-office-2024-but.1066126/",
                       config=ExtractConfig(page_types=True))
    assert out.page_type == "forum"
    assert out.text.startswith("paulb203\nOct 8, 2024\nI'm thinking for buying Office 2024.")
    assert "phinds\nOct 8, 2024\npaulb203 said:\nAre these legit?\nNo. How could they be at that price?" in out.text
    assert "Click to expand" not in out.text and "Discussion Overview" not in out.text


def _wcxb_page(shared_dir, file_id: str) -> str:
    return _to_text(gzip.decompress((shared_dir / f"benchmarks/wcxb-dev/dev/html/{file_id}.html.gz").read_bytes()),
                    None)[0]


def _old_reddit_comment(cid: str, author: str, score: str, body: str, children: str = "", extra: str = "") -> str:
    return (f'<div class=" thing id-t1_{cid} {extra} comment " data-type="comment" data-author="{author}">'
            f'<div class="entry unvoted"><p class="tagline"><a class="author">{author}</a>'
            f'<span class="score dislikes">{int(score) - 1} points</span><span class="score unvoted">{score} points</span>'
            f'<time>1 hour ago</time></p><form class="usertext"><div class="usertext-body md-container">'
            f'<div class="md"><p>{body}</p></div></div></form><ul class="flat-list buttons"><li>permalink</li>'
            f'<li>reply</li></ul></div><div class="child">{children}</div></div>')


def test_old_reddit_comments_in_thread_order_without_buttons_or_stickied_notes():
    reply = _old_reddit_comment("b", "Brook", "7", "Because 2 divides it.")
    comments = (_old_reddit_comment("m", "AutoModerator", "1", "Welcome! Please read the rules.", extra="stickied")
                + _old_reddit_comment("a", "Ada", "12", "Why is no even number above 2 prime?", reply)
                + _old_reddit_comment("c", "Cy", "3", "Nice question."))
    root = parse_html(f"<html><body><div class='sitetable nestedlisting'>{comments}</div></body></html>")
    assert read_thread(root, 'data-type="comment"').split("\n\n") == [
        "Ada\n12 points\nWhy is no even number above 2 prime?", "Brook\n7 points\nBecause 2 divides it.",
        "Cy\n3 points\nNice question."]


def test_real_old_reddit_and_gamefaqs_threads_are_read_post_by_post(shared_dir):
    """WCXB dev 0562 (old.reddit.com) and 0574 (GameFAQs boards): the main-content pass kept the
    buttons and score lines of every comment, or a cookie notice; the reader keeps author, byline, body."""
    typed = ExtractConfig(page_types=True)
    reddit = extract_html(_wcxb_page(shared_dir, "0562"), config=typed,
                          url="https://old.reddit.com/r/science/comments/1rku5x9/fully_functional_hair/")
    assert reddit.text.startswith("Ragnar_Dragonfyre\n189 points\nMight this also be a potential cure for tinnitus")
    assert "permalink" not in reddit.text and "AutoModerator" not in reddit.text
    boards = extract_html(_wcxb_page(shared_dir, "0574"), config=typed,
                          url="https://gamefaqs.gamespot.com/boards/189706-nintendo-switch/80702016")
    assert boards.text.startswith("Need2KnowLion\n#1\nNo YT stream link this time.")
    assert "Dark_guyver posted..." in boards.text and "cookies" not in boards.text


def test_phpbb_author_box_is_read_before_boilerplate_pruning(shared_dir):
    """WCXB dev 0535: the author sits in phpBB's ``dl.postprofile``, a class that boilerplate pruning
    removes; the thread is read first, so every post keeps its author."""
    out = extract_html(_wcxb_page(shared_dir, "0535"), config=ExtractConfig(page_types=True),
                       url="https://forums.raspberrypi.com/viewtopic.php?t=361697")
    posts = out.text.split("\n\n")
    assert posts[0].startswith("b.scherer\nSun Dec 17, 2023 11:23 am\nHi,")
    assert posts[1].startswith("jahboater\nWed Dec 27, 2023 10:00 am\n")
