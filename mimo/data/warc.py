"""Robust WARC reading and writing (warcio).

Reading yields one item per HTTP response record: either a ``WarcHtmlRecord`` (an HTML page with its
raw bytes) or a ``WarcSkip`` with a counted reason. A corrupt or truncated record never ends the
file: the reader resynchronises at the next gzip member (or ``WARC/`` header for plain files).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HTML_TYPES = ("text/html", "application/xhtml+xml")
DEFAULT_MAX_PAYLOAD_BYTES = 5_000_000
_GZIP_MAGIC = b"\x1f\x8b\x08"
_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


class WarcInputError(Exception):
    """A WARC path that is missing, unreadable or not a WARC file at all."""


@dataclass
class WarcHtmlRecord:
    """One HTML response record."""

    url: str
    record_id: str
    date: str | None
    http_status: int | None
    content_type: str
    http_charset: str | None
    payload: bytes
    warc_path: str
    offset: int
    skip_reason: None = None


@dataclass
class WarcSkip:
    """A record that could not be used, with the reason (counted by callers)."""

    skip_reason: str
    warc_path: str
    offset: int
    url: str | None = None
    record_id: str | None = None
    detail: str = ""


def _charset(content_type: str) -> str | None:
    match = _CHARSET_RE.search(content_type or "")
    return match.group(1).lower() if match else None


def _open_checked(path: str) -> BinaryIO:
    if not os.path.exists(path):
        raise WarcInputError(f"WARC file not found: {path}")
    if os.path.isdir(path):
        raise WarcInputError(f"expected a WARC file, got a directory: {path}")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise WarcInputError(f"cannot read WARC file {path}: {exc.strerror}") from None


def _next_member_offset(fh: BinaryIO, start: int, gzipped: bool, chunk: int = 1 << 20) -> int:
    """Offset of the next record start at or after ``start`` (gzip member or WARC header), or -1."""
    marker = _GZIP_MAGIC if gzipped else b"\nWARC/1."
    pos = start
    while True:
        fh.seek(pos)
        data = fh.read(chunk + len(marker))
        if not data:
            return -1
        hit = data.find(marker)
        if hit >= 0:
            return pos + hit + (0 if gzipped else 1)
        if len(data) <= len(marker):
            return -1
        pos += chunk


def _read_payload(record, limit: int) -> tuple[bytes, bool]:
    stream = record.content_stream()
    data = stream.read(limit + 1)
    too_large = len(data) > limit
    if too_large:  # drain without keeping it in memory
        while stream.read(1 << 20):
            pass
    return data, too_large


def iter_warc_html(
    path: str, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> Iterator[WarcHtmlRecord | WarcSkip]:
    """Yield HTML response records and counted skips from one WARC file (gzip or plain).

    Non-response records (warcinfo, request, metadata) are not documents and are not yielded;
    response records that are not HTML are yielded as ``WarcSkip("not_html")``.
    """
    with _open_checked(path) as fh:
        head = fh.read(512)
        if not head:
            return
        gzipped = head[:3] == _GZIP_MAGIC
        if not gzipped and head.lstrip()[:5] != b"WARC/":
            raise WarcInputError(f"not a WARC file (no gzip or WARC/ header): {path}")
        start = 0
        while start >= 0:
            fh.seek(start)
            iterator = ArchiveIterator(fh, check_digests=False)
            last_done = -1  # offset of the last record fully handled in this pass
            current = start  # offset of the record being read when an error strikes
            try:
                for record in iterator:
                    current = iterator.offset  # absolute file offset of this record (warcio counts from fh.tell())
                    item = _convert(record, path, current, max_payload_bytes)
                    last_done = current
                    if item is not None:
                        yield item
                size = os.fstat(fh.fileno()).st_size
                if iterator.offset < size:  # warcio stops quietly at a truncated final member
                    detail = f"{size - iterator.offset} trailing bytes not parseable"
                    yield WarcSkip("truncated_record", path, iterator.offset, detail=detail)
                return
            except Exception as exc:  # ArchiveLoadFailed, zlib.error, EOFError from a damaged member
                if last_done == current:
                    # failed while advancing past a good record: the next pass starts at the bad one
                    start = _next_member_offset(fh, last_done + 1, gzipped)
                    if start > last_done:
                        continue
                    current = last_done
                detail = f"{type(exc).__name__}: {exc}"[:300]
                start = _next_member_offset(fh, current + 1, gzipped)
                # a damaged record with nothing after it is what a cut-off download looks like
                yield WarcSkip("corrupt_record" if start >= 0 else "truncated_record", path, current, detail=detail)


def _convert(record, path: str, offset: int, limit: int) -> WarcHtmlRecord | WarcSkip | None:
    if record.rec_type != "response":
        return None
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    record_id = record.rec_headers.get_header("WARC-Record-ID") or f"{os.path.basename(path)}@{offset}"
    http = record.http_headers
    content_type = (http.get_header("Content-Type") if http else None) or ""
    if not content_type.split(";")[0].strip().lower() in HTML_TYPES:
        return WarcSkip("not_html", path, offset, url, record_id, detail=content_type[:100])
    payload, too_large = _read_payload(record, limit)
    if too_large:
        return WarcSkip("too_large", path, offset, url, record_id, detail=f"> {limit} bytes")
    declared = http.get_header("Content-Length") if http else None
    if declared and declared.isdigit() and len(payload) < int(declared):
        detail = f"{len(payload)} of {declared} bytes"
        return WarcSkip("truncated_record", path, offset, url, record_id, detail=detail)
    status = None
    if http is not None:
        try:
            status = int(http.get_statuscode())
        except (TypeError, ValueError):
            status = None
    return WarcHtmlRecord(
        url=url,
        record_id=record_id,
        date=record.rec_headers.get_header("WARC-Date"),
        http_status=status,
        content_type=content_type,
        http_charset=_charset(content_type),
        payload=payload,
        warc_path=path,
        offset=offset,
    )


@dataclass
class PageToWrite:
    """An HTTP response to pack into a WARC file."""

    url: str
    payload: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    date: datetime | None = None


def write_warc(pages: Iterable[PageToWrite], path: str) -> int:
    """Write pages as gzip-per-record WARC response records (atomically); returns the count."""
    tmp = f"{path}.tmp-{os.getpid()}"
    count = 0
    with open(tmp, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for page in pages:
            http_headers = StatusAndHeaders(
                f"{page.status} OK",
                [("Content-Type", page.content_type), ("Content-Length", str(len(page.payload)))],
                protocol="HTTP/1.1",
            )
            when = (page.date or datetime(2025, 1, 1, tzinfo=timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
            record = writer.create_warc_record(
                page.url,
                "response",
                payload=io.BytesIO(page.payload),
                http_headers=http_headers,
                warc_headers_dict={"WARC-Date": when},
            )
            writer.write_record(record)
            count += 1
    os.replace(tmp, path)
    return count
