"""``mimo extract``: extract pages from .html/.html.gz files and WARC files, one JSON line each."""

from __future__ import annotations

import gzip
import json
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any, TextIO

from mimo.data.extract.config import ExtractConfig, ExtractOutcome
from mimo.data.extract.core import extract_html
from mimo.data.extract.guard import GuardedExtractor

Extractor = Callable[[bytes, "str | None", "str | None"], ExtractOutcome]


class CliInputError(Exception):
    """A path that cannot be read; reported as one line on stderr, exit code 2."""


def _check_path(path: str, what: str) -> None:
    if not os.path.exists(path):
        raise CliInputError(f"{what} not found: {path}")
    if os.path.isdir(path):
        raise CliInputError(f"expected a {what}, got a directory: {path}")
    if not os.access(path, os.R_OK):
        raise CliInputError(f"cannot read {what}: {path}")


def _read_html_file(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                return fh.read()
        with open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise CliInputError(f"cannot read HTML file {path}: {exc}") from None


def _line(path: str, url: str | None, out: ExtractOutcome) -> dict[str, Any]:
    return {"path": path, "url": url, "text": out.text, "title": out.title, "language": out.language,
            "n_formulas": out.n_formulas, "n_code_blocks": out.n_code_blocks,
            "page_type": out.page_type, "extraction_quality": out.quality, "skip_reason": out.skip_reason}


def _iter_warc(path: str, extract: Extractor) -> Iterator[dict[str, Any]]:
    from mimo.data.warc import WarcInputError, iter_warc_html

    try:
        for rec in iter_warc_html(path):
            url = getattr(rec, "url", None)
            reason = getattr(rec, "skip_reason", None)
            if reason is not None:
                yield {"path": path, "url": url, "text": None, "title": None, "language": None,
                       "n_formulas": 0, "n_code_blocks": 0, "page_type": None, "extraction_quality": None,
                       "skip_reason": str(reason)}
                continue
            yield _line(path, url, extract(rec.payload, url, getattr(rec, "http_charset", None)))
    except WarcInputError as exc:
        raise CliInputError(str(exc)) from None
    except OSError as exc:
        raise CliInputError(f"cannot read WARC file {path}: {exc}") from None


def run_extract_cli(paths: list[str], warc: list[str] | None, guarded: bool,
                    stdout: TextIO | None = None, page_types: bool = True) -> int:
    """Print one JSON line per document of ``paths`` (.html/.html.gz) and ``warc`` files.

    Pages are extracted by page type unless ``page_types`` is off. Returns 0, or 2 after one error
    line on stderr when a path is missing or unreadable."""
    config = ExtractConfig(page_types=page_types)
    out = stdout or sys.stdout
    warcs = list(warc or [])
    try:
        for p in paths:
            _check_path(p, "HTML file")
        for w in warcs:
            _check_path(w, "WARC file")
        with ExitStack() as stack:
            if guarded:
                guard = stack.enter_context(GuardedExtractor(config))
                extract: Extractor = lambda payload, url, hint: guard.extract(payload, url, hint)
            else:
                extract = lambda payload, url, hint: extract_html(payload, url, config=config, charset_hint=hint)
            for p in paths:
                res = extract(_read_html_file(p), None, None)
                out.write(json.dumps(_line(p, None, res), ensure_ascii=False) + "\n")
                out.flush()
            for w in warcs:
                for row in _iter_warc(w, extract):
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    out.flush()
    except CliInputError as exc:
        print(f"mimo extract: error: {exc}", file=sys.stderr)
        return 2
    return 0
