"""trafilatura's content XPaths: libxml2 against the Python functions they compile to, on WCXB dev pages.

Two measurements, both on pages no one here wrote, in one process pinned to one core:

- per expression: ms per page for the libxml2 XPath, its guarded rewrite and the compiled function, on
  each page's whole tree and on a subtree (as trafilatura passes its candidates), with every result
  checked equal to libxml2's;
- end to end: the page-type extraction with the compiled expressions switched in and out, page by page
  in alternating order, with the share of identical outputs.

    python bench/bench_trafilatura_xpaths.py [--pages 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import _wcxb  # noqa: E402
from lxml import etree  # noqa: E402

import mimo.data.extract.mainpass as mainpass  # noqa: E402
from mimo.data.extract import ExtractConfig, extract_html  # noqa: E402
from mimo.data.extract.core import _to_text, parse_html  # noqa: E402
from mimo.data.extract.fastxpaths import content_xpaths, fast_xpaths, rewritten  # noqa: E402
from mimo.data.extract.xpathcompile import compile_xpath  # noqa: E402


def per_expression(htmls: list[str]) -> dict:
    """ms per page of each expression in its three forms, and how many results differ from libxml2's."""
    trees = []
    for html in htmls:
        root = parse_html(html)
        body = root.find("body")
        trees.append((root, body[len(body) // 2] if body is not None and len(body) else root))
    rows, totals = {}, {"libxml2": 0.0, "guarded": 0.0, "compiled": 0.0}
    regexp = {"re": "http://exslt.org/regular-expressions"}
    for name, xpath in content_xpaths():
        forms = {"libxml2": xpath, "guarded": etree.XPath(rewritten(xpath.path), namespaces=regexp, smart_strings=False),
                 "compiled": compile_xpath(xpath.path)}
        spent, mismatches = dict.fromkeys(forms, 0.0), 0
        for pair in trees:
            for node in pair:
                results = {}
                for form, fn in forms.items():
                    t0 = time.process_time()
                    results[form] = fn(node)
                    spent[form] += time.process_time() - t0
                mismatches += sum(results[f] != results["libxml2"] for f in ("guarded", "compiled"))
        rows[name] = {f: round(s * 1000 / len(trees), 3) for f, s in spent.items()} | {"mismatches": mismatches}
        for form in totals:
            totals[form] += spent[form] * 1000 / len(trees)
    return {"expressions": rows, "total_ms_per_page": {f: round(v, 2) for f, v in totals.items()}}


def end_to_end(pages: dict[str, str], urls: dict[str, str | None]) -> dict:
    """CPU ms per page of the page-type extraction with the compiled expressions off and on."""
    config, spent, same = ExtractConfig(page_types=True), [0.0, 0.0], 0
    switch = [nullcontext, fast_xpaths]
    for i, (key, html) in enumerate(pages.items()):
        outs = [None, None]
        for on in ((0, 1) if i % 2 else (1, 0)):
            mainpass.fast_xpaths = switch[on]
            t0 = time.process_time()
            outcome = extract_html(html, url=urls[key], config=config)
            spent[on] += time.process_time() - t0
            outs[on] = (outcome.text, outcome.skip_reason, outcome.page_type, outcome.quality)
        same += outs[0] == outs[1]
    mainpass.fast_xpaths = fast_xpaths
    n = len(pages)
    return {"ms_per_page_libxml2": round(spent[0] * 1000 / n, 2), "ms_per_page_compiled": round(spent[1] * 1000 / n, 2),
            "speedup": round(spent[0] / spent[1], 3), "identical_outputs": same, "pages": n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=300, help="WCXB dev pages (every k-th, for a spread of sites)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "trafilatura_xpaths.json"))
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    raw, truth = _wcxb.load()
    keys = sorted(raw)[:: max(1, len(raw) // args.pages)][: args.pages]
    pages = {k: _to_text(raw[k], None)[0] for k in keys}
    exprs = per_expression(list(pages.values()))
    for name, row in exprs["expressions"].items():
        print(f"{name:36s} libxml2 {row['libxml2']:6.2f}  guarded {row['guarded']:6.2f}  compiled {row['compiled']:6.2f}"
              f"  ms/page  mismatches {row['mismatches']}")
    total = exprs["total_ms_per_page"]
    print(f"all expressions, ms per page (whole tree + one subtree): {total}")
    e2e = end_to_end(pages, {k: truth[k].get("url") for k in keys})
    print(f"page-type extraction: {e2e['ms_per_page_libxml2']} ms/page with libxml2's XPaths, "
          f"{e2e['ms_per_page_compiled']} compiled ({e2e['speedup']}x); identical outputs {e2e['identical_outputs']}/{e2e['pages']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"per_expression": exprs, "end_to_end": e2e}, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
