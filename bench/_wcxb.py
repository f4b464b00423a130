"""The WCXB development split (1,497 real pages of 7 page types) scored with the benchmark's own
scorer (``../shared/benchmarks/wcxb-dev/evaluate.py``: word-level F1, snippet inclusion/exclusion)."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

WCXB_DIR = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "wcxb-dev"
TYPES = ("article", "forum", "product", "collection", "listing", "documentation", "service")


def scorer() -> Any:
    """The benchmark's ``evaluate.py`` as a module (its ``word_f1``, ``snippet_check``,
    ``load_ground_truth``)."""
    spec = importlib.util.spec_from_file_location("wcxb_evaluate", WCXB_DIR / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(limit: int | None = None) -> tuple[dict[str, bytes], dict[str, dict]]:
    """(file id -> raw HTML bytes, file id -> ground truth as the scorer loads it, plus the page's
    ``url`` as the crawl would give it, ``None`` where the benchmark has none)."""
    truth = scorer().load_ground_truth("dev")
    ids = sorted(truth)[:limit] if limit else sorted(truth)
    pages = {}
    for fid in ids:
        path = WCXB_DIR / "dev" / "html" / f"{fid}.html.gz"
        if path.exists():
            pages[fid] = gzip.decompress(path.read_bytes())
            record = json.loads((WCXB_DIR / "dev" / "ground-truth" / f"{fid}.json").read_text(encoding="utf-8"))
            truth[fid] = {**truth[fid], "url": record.get("url")}
    return pages, {k: truth[k] for k in pages}


def score(outputs: dict[str, str | None], truth: dict[str, dict]) -> dict[str, Any]:
    """Mean precision, recall, F1 and snippet rates, overall and per page type (the scorer's
    definitions: every page counts, an empty prediction scores 0)."""
    ev = scorer()
    rows: dict[str, list[tuple[float, ...]]] = defaultdict(list)
    for fid, gt in truth.items():
        text = outputs.get(fid) or ""
        p, r, f1 = ev.word_f1(text, gt["main_content"])
        row = (p, r, f1, ev.snippet_check(text, gt["with"]), ev.snippet_check(text, gt["without"]))
        rows["all"].append(row)
        rows[gt["page_type"]].append(row)

    def mean(values: list[tuple[float, ...]], i: int) -> float:
        return sum(v[i] for v in values) / len(values)

    return {group: {"n": len(v), "precision": mean(v, 0), "recall": mean(v, 1), "f1": mean(v, 2),
                    "with_rate": mean(v, 3), "without_rate": mean(v, 4)}
            for group, v in rows.items()}


def per_page_f1(outputs: dict[str, str | None], truth: dict[str, dict]) -> dict[str, float]:
    ev = scorer()
    return {fid: ev.word_f1(outputs.get(fid) or "", gt["main_content"])[2] for fid, gt in truth.items()}


def code_blocks(html: bytes) -> list[list[str]]:
    """The page's code blocks as our code pre-pass finds them (``<pre>``, multi-line ``<code>``,
    highlight tables), each as its three longest lines, whitespace squashed."""
    from mimo.data.extract.code import protect_code
    from mimo.data.extract.core import SkipDocument, _to_text, parse_html
    from mimo.data.extract.placeholders import PlaceholderTable

    try:
        text, _ = _to_text(html, None)
        root = parse_html(text)
    except SkipDocument:
        return []
    table = PlaceholderTable.for_document(text)
    protect_code(root, table)
    blocks = []
    for item in table.items.values():
        lines = sorted({" ".join(line.split()) for line in item.text.split("\n")[1:-1] if line.strip()},
                       key=len, reverse=True)[:3]
        if lines and len(lines[0]) >= 8:
            blocks.append(lines)
    return blocks


def code_survival(pages: dict[str, bytes], outputs: dict[str, dict[str, str | None]]) -> dict[str, Any]:
    """Per extractor: of the code blocks on the pages, how many come out whole (the block's three
    longest lines all in the text, whitespace squashed); pages and blocks counted."""
    found = {fid: code_blocks(html) for fid, html in pages.items()}
    total = sum(map(len, found.values()))
    report: dict[str, Any] = {"pages_with_code": sum(1 for b in found.values() if b), "code_blocks": total}
    for name, texts in outputs.items():
        kept = 0
        for fid, blocks in found.items():
            if blocks:
                squashed = "\n".join(" ".join(line.split()) for line in (texts.get(fid) or "").split("\n"))
                kept += sum(all(line in squashed for line in block) for block in blocks)
        report[name] = {"kept": kept, "rate": kept / total if total else None}
    return report
