"""Cheap document statistics shared by the rule annotator and the heuristic filters."""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD_RE = re.compile(r"\w+", re.UNICODE)
_INLINE_MATH = re.compile(r"(?<!\\)\$[^$\n]{1,200}?(?<!\\)\$|\\\(.+?\\\)", re.S)
_DISPLAY_MATH = re.compile(r"\$\$.+?\$\$|\\\[.+?\\\]", re.S)
_LATEX_CMD = re.compile(r"\\(?:frac|sum|int|sqrt|alpha|beta|theta|lambda|pi|cdot|leq|geq|infty|partial|mathbb|binom|prod|lim)\b")
_CODE_FENCE = re.compile(r"^```", re.M)
_CODE_TOKENS = re.compile(r"\b(?:def|return|import|class|for|while|if|else|int|void|const|let|var|function|fn|struct|printf|print|SELECT|FROM)\b|[{};]|==|->|=>|\+\+")
_REASONING = re.compile(r"\b(?:therefore|thus|hence|because|since|suppose|assume|proof|implies|it follows|we get|we have|consider|so that|which means|step \d|first,|second,|finally)\b", re.I)
_SCIENCE = re.compile(r"\b(?:energy|molecule|cell|protein|physics|chemical|quantum|electron|species|theorem|equation|experiment|hypothesis|gravity|velocity|atom|genome|reaction|lemma|matrix|vector|probability|derivative|integral|algorithm|complexity)\b", re.I)
_BOILER = re.compile(r"\b(?:cookie|subscribe|sign up|log in|newsletter|advertisement|click here|share this|all rights reserved|terms of use|privacy policy)\b", re.I)
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})


@dataclass
class TextStats:
    """Per-document statistics (all cheap, computed in one pass over words and lines)."""

    n_chars: int
    n_words: int
    n_lines: int
    mean_word_len: float
    n_formulas: int
    n_latex_cmds: int
    n_code_fences: int
    code_token_ratio: float
    reasoning_markers: int
    science_terms: int
    boilerplate_terms: int
    symbol_ratio: float
    alpha_word_ratio: float
    stop_words: int
    bullet_line_ratio: float
    ellipsis_line_ratio: float
    terminal_punct_line_ratio: float
    short_line_ratio: float
    duplicate_line_ratio: float
    newline_ratio: float

    @property
    def math_density(self) -> float:
        """Formulas and LaTeX commands per 100 words."""
        return 100.0 * (self.n_formulas + self.n_latex_cmds) / max(self.n_words, 1)


def text_stats(text: str) -> TextStats:
    """Compute ``TextStats`` for one document."""
    words = WORD_RE.findall(text)
    n_words = len(words)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    n_lines = max(len(lines), 1)
    lower = [w.lower() for w in words]
    n_formulas = len(_INLINE_MATH.findall(text)) + len(_DISPLAY_MATH.findall(text))
    symbols = text.count("#") + text.count("...") + text.count("\u2026")
    return TextStats(
        n_chars=len(text),
        n_words=n_words,
        n_lines=len(lines),
        mean_word_len=sum(map(len, words)) / max(n_words, 1),
        n_formulas=n_formulas,
        n_latex_cmds=len(_LATEX_CMD.findall(text)),
        n_code_fences=len(_CODE_FENCE.findall(text)) // 2,
        code_token_ratio=len(_CODE_TOKENS.findall(text)) / max(n_words, 1),
        reasoning_markers=len(_REASONING.findall(text)),
        science_terms=len(_SCIENCE.findall(text)),
        boilerplate_terms=len(_BOILER.findall(text)),
        symbol_ratio=symbols / max(n_words, 1),
        alpha_word_ratio=sum(any(c.isalpha() for c in w) for w in words) / max(n_words, 1),
        stop_words=sum(1 for w in lower if w in STOP_WORDS),
        bullet_line_ratio=sum(line.startswith(("-", "*", "\u2022")) for line in lines) / n_lines,
        ellipsis_line_ratio=sum(line.endswith(("...", "\u2026")) for line in lines) / n_lines,
        terminal_punct_line_ratio=sum(line.endswith((".", "!", "?", '"', ":", ";")) for line in lines) / n_lines,
        short_line_ratio=sum(len(line) < 30 for line in lines) / n_lines,
        duplicate_line_ratio=1.0 - len(set(lines)) / n_lines,
        newline_ratio=text.count("\n") / max(n_words, 1),
    )


_TOKEN_RE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
TOKEN_COUNTER = "regex \\w+|[^\\w\\s] (approximate; the trained BPE tokenizer replaces it)"


def approx_tokens(text: str) -> int:
    """Approximate token count (words and punctuation marks) for catalog accounting."""
    return len(_TOKEN_RE.findall(text))
