"""Bytes -> text for crawled HTML: charset hints, BOMs, mislabeled encodings, binary sniffing."""

from __future__ import annotations

import codecs
import re

_MAGIC: tuple[bytes, ...] = (
    b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04",
    b"PK\x05\x06", b"\x1f\x8b", b"BZh91", b"7z\xbc\xaf\x27\x1c", b"\xfd7zXZ\x00", b"Rar!\x1a\x07",
    b"\x7fELF", b"\x00asm", b"wOFF", b"wOF2", b"OTTO", b"\x00\x01\x00\x00\x00", b"ID3",
    b"\x00\x00\x01\x00", b"II*\x00", b"MM\x00*", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"\x28\xb5\x2f\xfd", b"OggS", b"fLaC", b"\x1aE\xdf\xa3",
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
# bytes that never occur in text: C0 controls except \t \n \v \f \r and ESC (ISO-2022)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27))
_SAMPLE = 65536
# WHATWG: these labels are decoded as windows-1252 by every browser
_LEGACY_LATIN = {"latin-1", "iso8859-1", "ascii", "cp1252"}


def normalize_encoding(label: str | None) -> str | None:
    """Python codec name for a charset label, or None when unknown (also for utf-7/utf-16 labels
    on byte streams without BOM, which are almost always wrong)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name in ("utf-7",):
        return None
    if name in _LEGACY_LATIN:
        return "cp1252"
    if name in ("gb2312", "gb18030"):
        return "gb18030"  # superset, avoids spurious errors on GBK pages
    return name


def is_binary(payload: bytes) -> bool:
    """True when the bytes look like an image/archive/PDF/... rather than text."""
    head = payload[:16].lstrip()
    if any(head.startswith(m) for m in _MAGIC) or payload[:4] == b"RIFF" or payload[4:8] == b"ftyp":
        return True
    sample = payload[:_SAMPLE]
    if not sample:
        return False
    if sample.count(0) > max(1, len(sample) // 200):
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > max(2, len(sample) // 50)


def _utf16_without_bom(sample: bytes) -> str | None:
    """Detect BOM-less UTF-16 markup (``<\\x00h\\x00...``)."""
    if len(sample) < 8:
        return None
    even, odd = sample[0:512:2], sample[1:512:2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _try(payload: bytes, enc: str, tolerance: float = 0.0) -> str | None:
    try:
        return payload.decode(enc)
    except UnicodeDecodeError:
        if tolerance <= 0:
            return None
    except LookupError:
        return None
    text = payload.decode(enc, errors="replace")
    bad = text.count("\ufffd") - payload.count(b"\xef\xbf\xbd")
    return text if bad <= tolerance * max(1, len(text)) else None


def _sniff(payload: bytes) -> str | None:
    try:
        from charset_normalizer import (
            from_bytes,  # transitive dependency of trafilatura
        )
    except ImportError:  # pragma: no cover
        return None
    best = from_bytes(payload[:_SAMPLE]).best()
    return normalize_encoding(best.encoding) if best is not None else None


def declared_encodings(payload: bytes) -> list[str]:
    """Encodings declared inside the document (XML declaration, ``<meta charset>``)."""
    head = payload[:4096]
    found = [m.group(1).decode("ascii", "ignore") for m in (_XML_DECL_RE.match(head),) if m]
    found += [m.group(1).decode("ascii", "ignore") for m in _META_RE.finditer(head)]
    return [e for e in (normalize_encoding(x) for x in found) if e]


def decode_html(payload: bytes, charset_hint: str | None) -> tuple[str, str]:
    """Decode an HTML payload; returns (text, encoding used).

    Order: BOM, HTTP charset hint, in-document declaration, UTF-8, sniffing, cp1252. A legacy
    Latin label on valid non-ASCII UTF-8 is overridden (UTF-8 wins); a label that fails to decode
    is dropped. Raises ValueError("binary") for non-text payloads, ValueError("decode_error") if
    nothing decodes."""
    for bom, enc in _BOMS:
        if payload.startswith(bom):
            try:
                return payload[len(bom):].decode(enc), enc
            except UnicodeDecodeError:
                break
    utf16 = _utf16_without_bom(payload[:1024])
    if utf16:
        text = _try(payload, utf16, tolerance=0.001)
        if text is not None:
            return text, utf16
    if is_binary(payload):
        raise ValueError("binary")
    candidates: list[str] = []
    for enc in [normalize_encoding(charset_hint), *declared_encodings(payload)]:
        if enc and enc not in candidates and not enc.startswith(("utf-16", "utf-32")):
            candidates.append(enc)
    non_ascii = not payload.isascii()
    if candidates and candidates[0] == "cp1252" and non_ascii and _try(payload, "utf-8") is not None:
        return payload.decode("utf-8"), "utf-8"
    for enc in candidates:
        text = _try(payload, enc)
        if text is not None:
            return text, enc
    if "utf-8" not in candidates or not non_ascii:
        text = _try(payload, "utf-8")
        if text is not None:
            return text, "utf-8"
    for enc in candidates:  # declared multi-byte encoding with a few broken bytes
        if enc != "utf-8":
            text = _try(payload, enc, tolerance=0.001)
            if text is not None:
                return text, enc
    sniffed = _sniff(payload)
    if sniffed and (sniffed in ("cp1250", "cp1257", "mac-roman") or sniffed.startswith(("iso8859", "mac-"))):
        sniffed = "cp1252"  # Latin look-alikes: the usual mislabel is windows-1252
    for enc in ([sniffed] if sniffed else []) + ["cp1252"]:
        text = _try(payload, enc)
        if text is not None:
            return text, enc
    text = payload.decode("latin-1")
    if sum(1 for ch in text if "\x80" <= ch <= "\x9f") > 0.01 * max(1, len(text)):
        raise ValueError("decode_error")
    return text, "latin-1"
