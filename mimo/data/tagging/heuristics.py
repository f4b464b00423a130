"""Gopher / C4 / FineWeb-style heuristic filters, available as options.

MiMo replaces these with model taggers because they wrongly drop math and code pages; the tagged
asset reports how many math and code pages each filter would drop. Thresholds follow datatrove's
defaults (Gopher quality, C4 lines, FineWeb quality) as published, re-implemented here.
"""

from __future__ import annotations

from collections.abc import Callable

from mimo.data.tagging.features import TextStats

FilterFn = Callable[[str, TextStats], str | None]


def gopher_quality(text: str, s: TextStats) -> str | None:
    """Gopher quality rules; returns the failed rule or None when the document passes."""
    if not 50 <= s.n_words <= 100_000:
        return "gopher_word_count"
    if not 3 <= s.mean_word_len <= 10:
        return "gopher_mean_word_length"
    if s.symbol_ratio > 0.1:
        return "gopher_symbol_ratio"
    if s.bullet_line_ratio > 0.9:
        return "gopher_bullet_lines"
    if s.ellipsis_line_ratio > 0.3:
        return "gopher_ellipsis_lines"
    if s.alpha_word_ratio < 0.8:
        return "gopher_non_alpha_words"
    if s.stop_words < 2:
        return "gopher_stop_words"
    return None


def c4_quality(text: str, s: TextStats) -> str | None:
    """C4 rules at document level: terminal punctuation, curly braces, lorem ipsum, javascript."""
    lowered = text.lower()
    if "lorem ipsum" in lowered:
        return "c4_lorem_ipsum"
    if "{" in text:
        return "c4_curly_bracket"
    if "javascript" in lowered:
        return "c4_javascript"
    if s.terminal_punct_line_ratio < 0.5:
        return "c4_terminal_punctuation"
    if s.n_lines < 3:
        return "c4_min_lines"
    return None


def fineweb_quality(text: str, s: TextStats) -> str | None:
    """FineWeb rules: line punctuation, short lines, duplicated lines, newline ratio."""
    if s.terminal_punct_line_ratio < 0.12:
        return "fineweb_line_punctuation"
    if s.short_line_ratio > 0.67:
        return "fineweb_short_lines"
    if s.duplicate_line_ratio > 0.01 and s.n_lines > 10:
        return "fineweb_duplicate_lines"
    if s.newline_ratio > 0.3:
        return "fineweb_newline_ratio"
    return None


HEURISTIC_FILTERS: dict[str, FilterFn] = {
    "gopher": gopher_quality,
    "c4": c4_quality,
    "fineweb": fineweb_quality,
}
