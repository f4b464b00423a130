"""GuardedExtractor: hostile pages give a skip reason, never an exception; the worker respawns."""

from __future__ import annotations

import pytest

from mimo.data.extract import ExtractConfig, GuardedExtractor, extract_html

GOOD = (b"<html><head><title>Ok</title></head><body><article><p>A perfectly normal paragraph of text "
        b"that should be extracted by the guarded worker without any trouble.</p></article></body></html>")


def _big_page(n: int) -> str:
    return "<html><body>" + "".join(
        f"<p>Paragraph {i} with a handful of ordinary words to extract.</p>" for i in range(n)) + "</body></html>"


@pytest.fixture(scope="module")
def guard() -> GuardedExtractor:
    with GuardedExtractor(ExtractConfig(timeout_s=20)) as g:
        yield g


def test_normal_page(guard: GuardedExtractor) -> None:
    out = guard.extract(GOOD, url="https://example.org/x", charset_hint="utf-8")
    assert out.skip_reason is None and out.text and "perfectly normal" in out.text
    assert out.encoding == "utf-8" and out.language == "en"


def _nested(n: int) -> str:
    return ("<html><body>" + "<div>" * n + "<p>deep text in the innermost block</p>" + "</div>" * n
            + "<p>text after the nest</p></body></html>")


def test_deep_but_parseable_nesting(guard: GuardedExtractor) -> None:
    out = guard.extract(_nested(1500))  # past libxml2's default depth of 256: huge-tree re-parse
    assert out.skip_reason is None and out.text
    assert "deep text in the innermost block" in out.text and "text after the nest" in out.text


def test_pathological_nesting(guard: GuardedExtractor) -> None:
    html = _nested(100_000)
    out = guard.extract(html)
    assert out.skip_reason == "parse_error"  # would be silently truncated: not accepted
    assert extract_html(html).skip_reason == "parse_error"


def test_hostile_inputs(guard: GuardedExtractor) -> None:
    assert guard.extract(b"").skip_reason == "empty_input"
    assert guard.extract(b" " * 100).skip_reason == "empty_input"
    assert guard.extract(b"<html>" + b"a" * 50_000_000 + b"</html>").skip_reason == "too_large"
    assert guard.extract(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).skip_reason == "binary"
    assert guard.extract(b"\xff\xd8\xff\xe0" + bytes(2000)).skip_reason == "binary"
    assert guard.extract(b"<html><body></body></html>").skip_reason == "empty"
    assert guard.extract("<html><body><p>caf\u00e9</p></body></html>".encode("cp1252"),
                         charset_hint="utf-8").text == "caf\u00e9"
    assert guard.extract(None).skip_reason is not None  # type: ignore[arg-type]
    assert guard.extract(GOOD).skip_reason is None


def test_worker_killed_is_respawned(guard: GuardedExtractor) -> None:
    # the module's worker may have been replaced by an earlier test (any order): bring it up first
    assert guard.extract(GOOD).skip_reason is None and guard._proc is not None
    before = guard.n_respawns
    guard._proc.kill()
    guard._proc.wait()
    out = guard.extract(GOOD)
    assert out.skip_reason is None and guard.n_respawns == before + 1


def test_timeout_then_recovers() -> None:
    big = _big_page(40_000)  # ~2.4 MB of real markup: a few seconds of work
    with GuardedExtractor(ExtractConfig(timeout_s=0.2)) as g:
        out = g.extract(big)
        assert out.skip_reason == "timeout" and out.extraction_ms < 5000
        good = g.extract(GOOD)
        assert good.skip_reason is None and g.n_respawns == 1


def test_memory_limit_then_recovers() -> None:
    big = _big_page(40_000)
    with GuardedExtractor(ExtractConfig(memory_limit_mb=30, timeout_s=30)) as g:
        out = g.extract(big)
        assert out.skip_reason == "memory"
        assert g.extract(GOOD).skip_reason is None
