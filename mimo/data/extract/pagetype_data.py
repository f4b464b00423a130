"""The WCXB development split as page-type training rows: (features, labelled type, site)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from mimo.data.extract.core import SkipDocument, parse_html
from mimo.data.extract.decode import decode_html
from mimo.data.extract.pagetype_model import page_features, site_of


def wcxb_page_type(record: dict) -> str:
    """The benchmark's label of a ground-truth record (its scorer's rule: ``category`` is a collection)."""
    kind = ((record.get("_internal") or {}).get("page_type") or {})
    kind = kind.get("primary", "article") if isinstance(kind, dict) else (kind or "article")
    return "collection" if kind == "category" else kind


def load_wcxb_features(root: Path) -> list[tuple[list[str], str, str]]:
    """Every dev page that parses: its features, its type and its site."""
    rows = []
    for gt_path in sorted((root / "dev" / "ground-truth").glob("*.json")):
        record = json.loads(gt_path.read_text(encoding="utf-8"))
        html_path = root / "dev" / "html" / f"{gt_path.stem}.html.gz"
        if not html_path.exists():
            continue
        try:
            text, _ = decode_html(gzip.decompress(html_path.read_bytes()), None)
            tree = parse_html(text)
        except (ValueError, SkipDocument):
            continue
        url = record.get("url")
        rows.append((page_features(tree, text, url), wcxb_page_type(record), site_of(url)))
    return rows
