"""Typed configuration and result records of the HTML extractor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Every value ``ExtractOutcome.skip_reason`` can take (``None`` means "extracted").
SKIP_REASONS: tuple[str, ...] = (
    "empty_input",   # no bytes / only whitespace
    "too_large",     # payload above ExtractConfig.max_payload_bytes, or markup above max_html_bytes
    "binary",        # image, archive, PDF ... served as HTML
    "decode_error",  # no usable character encoding
    "timeout",       # the guarded worker ran past ExtractConfig.timeout_s
    "memory",        # the guarded worker hit ExtractConfig.memory_limit_mb
    "parse_error",   # lxml could not build a usable tree (or it was truncated)
    "empty",         # extraction shorter than ExtractConfig.min_text_chars
    "shell",         # with page types: fewer words than ExtractConfig.min_words (an app shell, a search box)
    "worker_crash",  # the guarded worker died for another reason
)


@dataclass(frozen=True)
class ExtractConfig:
    """Settings of one extractor; frozen so it can be shared and sent to workers."""

    favor_precision: bool = False
    favor_recall: bool = True  # trafilatura's recall mode (ignored when favor_precision is set)
    include_tables: bool = True
    include_comments: bool = False  # forum threads: replies are the content
    fast: bool = True  # False: trafilatura may fall back to readability / jusText
    page_types: bool = False  # classify the page and extract with its type's settings (profiles.py)
    #: with page_types: every article covering little of its page is compared with trafilatura's recall
    #: pass, not only those that miss their prose lists (profiles.py; WCXB dev +0.0007, about 15 % slower
    #: on articles)
    longer_recall: bool = False
    timeout_s: float = 5.0
    memory_limit_mb: int = 1024
    max_html_bytes: int = 5_000_000
    #: a payload over ``max_html_bytes`` and up to this size loses its scripts, styles and inline SVG
    #: (oversize.py) and is extracted when the rest fits ``max_html_bytes``
    max_payload_bytes: int = 20_000_000
    min_text_chars: int = 1
    min_words: int = 40  # with page_types: a shorter text is an app shell, a menu, a search box or a stub, not a
    # document (the corpus filter drops texts under 50 words in any case)

    @property
    def payload_limit(self) -> int:
        """Payloads larger than this are refused outright (``too_large``)."""
        return max(self.max_payload_bytes, self.max_html_bytes)


@dataclass
class ExtractOutcome:
    """What extracting one document gave: text or a skip reason, plus metadata."""

    text: str | None
    skip_reason: str | None
    title: str | None = None
    language: str | None = None
    language_score: float | None = None
    n_formulas: int = 0
    n_code_blocks: int = 0
    page_type: str | None = None  # with ExtractConfig.page_types: article, forum, product, ...
    quality: float | None = None  # with ExtractConfig.page_types: confidence that the text is complete
    encoding: str | None = None
    extraction_ms: float = 0.0  # wall time: reported as metadata, never stored in an artifact's files

    @classmethod
    def skipped(cls, reason: str, *, encoding: str | None = None,
                title: str | None = None, extraction_ms: float = 0.0) -> ExtractOutcome:
        """Build the outcome of a skipped document."""
        if reason not in SKIP_REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        return cls(text=None, skip_reason=reason, title=title, encoding=encoding,
                   extraction_ms=extraction_ms)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON-serialisable)."""
        return asdict(self)
