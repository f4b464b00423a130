"""Robust WARC reading and writing (warcio).

Reading yields one item per HTTP response record: either a ``WarcHtmlRecord`` (an HTML page with its
raw bytes) or a ``WarcSkip`` with a counted reason. A corrupt or truncated record never ends the
file: the reader resynchronises at the next gzip member (or ``WARC/`` header for plain files).
``read_warc_file`` reads a whole crawl file without ever raising for a bad one: it says why a file
is skipped (``FILE_SKIP_REASONS``), and keeps the records before the cut of a truncated file.
"""

from __future__ import annotations

import io
import os
import re
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

HTML_TYPES = ("text/html", "application/xhtml+xml")
DEFAULT_MAX_PAYLOAD_BYTES = 20_000_000  # extraction cuts what is over 5 MB to its markup without scripts
_GZIP_MAGIC = b"\x1f\x8b\x08"
_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


FILE_SKIP_REASONS = ("missing", "unreadable", "empty_file", "not_warc", "truncated")
"""Why a whole crawl file is skipped (or, for ``truncated``, only read up to the damage)."""


class WarcInputError(Exception):
    """A WARC path that is missing, unreadable or not a WARC file at all.

    ``reason`` is one of ``FILE_SKIP_REASONS``."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class _UndecodableMember(Exception):
    """A gzip member that does not decompress (warcio would read its raw bytes as plain text)."""


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


WarcItem = WarcHtmlRecord | WarcSkip


@dataclass
class WarcFileRead:
    """Everything read from one crawl file, and why the file was skipped or cut short, if it was.

    ``skip_reason`` is None for a sound file, else one of ``FILE_SKIP_REASONS``; ``items`` are the
    records read (those before the damage for a ``truncated`` file, none for the other reasons)."""

    path: str
    items: list[WarcItem] = field(default_factory=list)
    skip_reason: str | None = None
    detail: str = ""


def _charset(content_type: str) -> str | None:
    match = _CHARSET_RE.search(content_type or "")
    return match.group(1).lower() if match else None


def _open_checked(path: str) -> BinaryIO:
    if not os.path.exists(path):
        raise WarcInputError(f"WARC file not found: {path}", "missing")
    if os.path.isdir(path):
        raise WarcInputError(f"expected a WARC file, got a directory: {path}", "not_warc")
    try:
        return open(path, "rb")
    except FileNotFoundError:  # vanished between the check and the open
        raise WarcInputError(f"WARC file not found: {path}", "missing") from None
    except OSError as exc:
        raise WarcInputError(f"cannot read WARC file {path}: {exc.strerror}", "unreadable") from None


def _member_is_warc(fh: BinaryIO, offset: int) -> bool | None:
    """Whether the gzip member at ``offset`` decompresses to a WARC record start; None when it
    does not decompress far enough to tell (damaged)."""
    fh.seek(offset)
    try:
        first = zlib.decompressobj(31).decompress(fh.read(4096), 64)
    except zlib.error:
        return None
    return first.lstrip()[:5] == b"WARC/" if len(first.lstrip()) >= 5 else None


def _check_head(fh: BinaryIO, path: str) -> bool | None:
    """Whether the file is gzipped (True) or plain (False); None for an empty file. Raises
    ``WarcInputError("not_warc")`` when no WARC record starts the file or follows a damaged start."""
    head = fh.read(512)
    if not head:
        return None
    if head[:3] == _GZIP_MAGIC and _member_is_warc(fh, 0) is not False:
        return True  # a WARC, or a damaged first member that the reader counts and skips
    if head[:3] != _GZIP_MAGIC and head.lstrip()[:5] == b"WARC/":
        return False
    # not a WARC at byte 0: a WARC whose first record is damaged still has WARC records after it
    nxt = _next_member_offset(fh, 1, True)
    if nxt > 0 and _member_is_warc(fh, nxt):
        return True
    if head[:3] != _GZIP_MAGIC and _next_member_offset(fh, 1, False) > 0:
        return False
    raise WarcInputError(f"not a WARC file (no WARC record found, gzip or plain): {path}", "not_warc")


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


def _starts_record(fh: BinaryIO, offset: int, gzipped: bool) -> bool:
    """Whether a gzip member (or, in a plain file, a ``WARC/`` header) starts at ``offset``."""
    fh.seek(offset)
    return fh.read(3) == _GZIP_MAGIC if gzipped else fh.read(5) == b"WARC/"


def _gzip_cut_at(fh: BinaryIO, start: int, chunk: int = 1 << 16) -> int | None:
    """Walk the gzip members from ``start`` (a member start) to the end of the file: the offset of
    the member the file ends inside, or None when the file ends after a complete member or after
    bytes that do not decompress at all (damage, not a cut). Damaged members are skipped over."""
    fh.seek(start)
    member, buf_off, buf = start, start, b""
    decomp, fed = zlib.decompressobj(31), False
    while True:
        if not buf:
            buf_off, buf = fh.tell(), fh.read(chunk)
            if not buf:
                return member if fed else None
        size = len(buf)
        try:
            decomp.decompress(buf, 1 << 20)  # output is not needed, only where members end
        except zlib.error:  # a damaged member, not a cut one: go on at the next member
            nxt = _next_member_offset(fh, member + 1, True)
            if nxt < 0:
                return None
            fh.seek(nxt)
            member, buf, decomp, fed = nxt, b"", zlib.decompressobj(31), False
            continue
        if decomp.eof:
            member = buf_off + size - len(decomp.unused_data)
            buf_off, buf = member, decomp.unused_data
            decomp, fed = zlib.decompressobj(31), False
        else:
            tail = decomp.unconsumed_tail
            buf_off, buf, fed = buf_off + size - len(tail), tail, True


def _read_payload(record, limit: int) -> tuple[bytes, bool]:
    stream = record.content_stream()
    data = stream.read(limit + 1)
    too_large = len(data) > limit
    if too_large:  # drain without keeping it in memory
        while stream.read(1 << 20):
            pass
    return data, too_large


class _WarcScan:
    """Iterates the records of one open WARC file; afterwards ``cut_at`` is the offset of the record
    the file ends inside (a cut-off download), or None when the file ends where a record ends."""

    def __init__(self, fh: BinaryIO, path: str, gzipped: bool, max_payload_bytes: int):
        self.fh, self.path, self.gzipped, self.limit = fh, path, gzipped, max_payload_bytes
        self.cut_at: int | None = None

    def __iter__(self) -> Iterator[WarcItem]:
        held: WarcItem | None = None  # the last item waits until we know whether the file ends inside it
        for item in self._records():
            if held is not None:
                yield held
            held = item
        self.cut_at = self._cut_at(held)
        if held is not None:
            if self.cut_at == held.offset and isinstance(held, WarcSkip) and held.skip_reason != "truncated_record":
                # what was read of a cut record (headers without their end) is not a reason of its own
                held = WarcSkip("truncated_record", self.path, held.offset, held.url, held.record_id,
                                detail=f"the file ends inside this record (it read as {held.skip_reason})")
            yield held
        if self.cut_at is not None and (held is None or held.offset < self.cut_at):
            # the cut record left nothing warcio could report: count it here
            yield WarcSkip("truncated_record", self.path, self.cut_at, detail="the file ends inside this record")

    def _cut_at(self, last: WarcItem | None) -> int | None:
        if self.gzipped:
            return _gzip_cut_at(self.fh, last.offset if last else 0)
        if isinstance(last, WarcSkip) and last.skip_reason == "truncated_record":
            return last.offset  # plain WARC: a short last record is where the file ends
        return None

    def _records(self) -> Iterator[WarcItem]:
        fh, path, gzipped = self.fh, self.path, self.gzipped
        start = 0
        while start >= 0:
            fh.seek(start)
            iterator = ArchiveIterator(fh, check_digests=False)
            last_done = -1  # offset of the last record fully handled in this pass
            current = start  # offset of the record being read when an error strikes
            try:
                for record in iterator:
                    if gzipped and iterator.reader is not None and iterator.reader.decompressor is None:
                        # warcio fell back to reading a member that does not decompress as plain bytes
                        raise _UndecodableMember("gzip member does not decompress")
                    current = iterator.offset  # absolute file offset of this record (warcio counts from fh.tell())
                    item = _convert(record, path, current, self.limit)
                    last_done = current
                    if item is not None:
                        yield item
                size = os.fstat(fh.fileno()).st_size
                if iterator.offset < size:  # warcio stops quietly at a truncated final member
                    detail = f"{size - iterator.offset} trailing bytes not parseable"
                    yield WarcSkip(self._end_reason(iterator.offset), path, iterator.offset, detail=detail)
                return
            except OSError:
                raise  # the file itself cannot be read (any more): not a record problem
            except Exception as exc:  # ArchiveLoadFailed, zlib.error, EOFError from a damaged member
                if last_done == current:
                    # failed while advancing past a good record: the damage starts where that record
                    # ended; a fresh pass reads it from there when it looks like a record start
                    end = iterator.offset if iterator.offset > last_done else -1
                    if end > last_done and _starts_record(fh, end, gzipped):
                        start = end
                        continue
                    if end < 0:
                        start = _next_member_offset(fh, last_done + 1, gzipped)
                        if start > last_done:
                            continue
                    current = max(end, last_done)
                detail = f"{type(exc).__name__}: {exc}"[:300]
                start = _next_member_offset(fh, current + 1, gzipped)
                reason = "corrupt_record" if start >= 0 else self._end_reason(current)
                yield WarcSkip(reason, path, current, detail=detail)

    def _end_reason(self, offset: int) -> str:
        """Reason for damage at ``offset`` with no record after it: in a gzip file, a member that
        ends early is a cut-off download and one that does not decompress is corrupt; in a plain
        file the two cannot be told apart, and a cut is the likely cause."""
        if self.gzipped and _gzip_cut_at(self.fh, offset) is None:
            return "corrupt_record"
        return "truncated_record"


def iter_warc_html(path: str, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Iterator[WarcItem]:
    """Yield HTML response records and counted skips from one WARC file (gzip or plain).

    Non-response records (warcinfo, request, metadata) are not documents and are not yielded;
    response records that are not HTML are yielded as ``WarcSkip("not_html")``. A missing,
    unreadable or non-WARC path raises ``WarcInputError``; an empty file yields nothing.
    """
    with _open_checked(path) as fh:
        gzipped = _check_head(fh, path)
        if gzipped is not None:
            yield from _WarcScan(fh, path, gzipped, max_payload_bytes)


def read_warc_file(path: str, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> WarcFileRead:
    """Read one crawl file completely, never raising for a bad file: a missing, unreadable, empty
    or non-WARC file comes back with no items and its ``skip_reason``; a file that ends inside a
    record keeps the records before the damage, with ``skip_reason="truncated"``."""
    read = WarcFileRead(path)
    try:
        with _open_checked(path) as fh:
            gzipped = _check_head(fh, path)
            if gzipped is None:
                read.skip_reason, read.detail = "empty_file", "the file has zero bytes"
                return read
            scan = _WarcScan(fh, path, gzipped, max_payload_bytes)
            read.items.extend(scan)
            size = os.fstat(fh.fileno()).st_size
    except WarcInputError as exc:
        read.items, read.skip_reason, read.detail = [], exc.reason, str(exc)
        return read
    except FileNotFoundError as exc:
        read.items, read.skip_reason, read.detail = [], "missing", f"{path}: {exc.strerror}"
        return read
    except OSError as exc:  # permission changed or I/O error while reading: keep what was read
        read.skip_reason, read.detail = "unreadable", f"{path}: {exc.strerror or exc}"
        return read
    if scan.cut_at is not None:
        read.skip_reason = "truncated"
        read.detail = f"the file ends inside the record at byte {scan.cut_at} (file size {size})"
    return read


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


def _record_id(path: str, index: int, url: str) -> str:
    """A record id that is unique in the file and the same every time the file is written, so a
    rebuilt crawl is byte-identical (warcio would draw a random UUID)."""
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{os.path.basename(path)}#{index}:{url}')}>"


def write_warc(pages: Iterable[PageToWrite], path: str) -> int:
    """Write pages as gzip-per-record WARC response records (atomically, deterministically);
    returns the count."""
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
                warc_headers_dict={"WARC-Date": when, "WARC-Record-ID": _record_id(path, count, page.url)},
            )
            writer.write_record(record)
            count += 1
    os.replace(tmp, path)
    return count
