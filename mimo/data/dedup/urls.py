"""URL normalization and URL-level deduplication (rules documented in docs/dedup.md)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote_plus, urlsplit

import numpy as np

from mimo.data.dedup.exact import first_occurrence_mask

DEFAULT_PORTS = {"http": "80", "https": "443", "ftp": "21", "ws": "80", "wss": "443"}
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok",
        "li_fat_id", "oly_anon_id", "oly_enc_id", "vero_id", "wickedid", "rb_clickid", "s_cid",
        "ef_id", "srsltid", "zanpid",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)

_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PCT_RE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


def _fix_escapes(s: str, safe: str) -> str:
    """Percent-encode non-ASCII/unsafe chars, decode escaped unreserved chars, upper-case hex."""

    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _PCT_RE.sub(repl, quote(s, safe=safe))


def _remove_dot_segments(path: str) -> str:
    out: list[str] = []
    for seg in path.split("/")[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    trailing = path.endswith(("/.", "/.."))
    return "/" + "/".join(out) + ("/" if trailing and out else "")


def _normalize_host(host: str, strip_www: bool) -> str:
    host = host.strip().rstrip(".").lower()
    if host.startswith("["):  # IPv6 literal: keep as is
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass  # keep the lower-cased Unicode form
    if strip_www and host.startswith("www.") and len(host) > 4:
        host = host[4:]
    return host


def _split_host_port(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        end = hostport.find("]")
        if end != -1:
            rest = hostport[end + 1 :]
            return hostport[: end + 1], rest[1:] if rest.startswith(":") else ""
    host, sep, port = hostport.rpartition(":")
    if sep and (port.isdigit() or port == ""):
        return host, port
    return hostport, ""


def _keep_param(part: str) -> bool:
    name = unquote_plus(part.split("=", 1)[0]).strip().lower()
    return (
        bool(part)
        and name not in TRACKING_PARAMS
        and not name.startswith(TRACKING_PREFIXES)
    )


def normalize_url(url: str, *, strip_www: bool = True) -> str:
    """Canonical form of ``url`` for deduplication (same resource -> same string).

    Lower-cases scheme and host (IDNA/punycode for non-ASCII hosts), drops userinfo, the
    default port, the fragment and tracking query parameters, strips a leading ``www.``
    (``strip_www``), sorts the remaining query parameters, collapses ``//`` in the path, resolves
    ``.``/``..`` segments, normalizes percent-escapes and strips a trailing ``/`` (except the
    root). A URL without scheme is read as ``http://``. Unparseable input is returned stripped."""
    url = url.strip()
    if not url:
        return ""
    if not _SCHEME_RE.match(url):
        url = "http:" + url if url.startswith("//") else "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    hostport = parts.netloc.rpartition("@")[2]
    host, port = _split_host_port(hostport)
    host = _normalize_host(host, strip_www)
    port = port.lstrip("0") or ("0" if port else "")
    netloc = host if not port or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", _fix_escapes(parts.path or "/", _PATH_SAFE))
    path = _remove_dot_segments(path if path.startswith("/") else "/" + path)
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    params = sorted(
        _fix_escapes(p, _QUERY_SAFE) for p in parts.query.split("&") if _keep_param(p)
    )
    query = "&".join(params)
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def url_key(url: str, *, ignore_scheme: bool = True, strip_www: bool = True) -> str:
    """Dedup key: :func:`normalize_url`, without the scheme when ``ignore_scheme`` (http == https)."""
    norm = normalize_url(url, strip_www=strip_www)
    if ignore_scheme and "://" in norm:
        return norm.split("://", 1)[1]
    return norm


def dedup_urls(
    urls: Iterable[str], *, ignore_scheme: bool = True, strip_www: bool = True
) -> np.ndarray:
    """Keep mask: True for the first URL of each :func:`url_key` (input order; deterministic).

    Empty/blank URLs are always kept (they carry no identity)."""
    keys = []
    for i, u in enumerate(urls):
        k = url_key(u or "", ignore_scheme=ignore_scheme, strip_www=strip_www)
        keys.append(k if k else ("", i))
    return first_occurrence_mask(keys)
