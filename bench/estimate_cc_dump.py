"""Estimate the cores and hours one Common Crawl dump takes through the data stages, from this
repository's own measurements.

    python bench/estimate_cc_dump.py [--pages 3.0e9] [--kept-after-extraction 0.6] [--cores 2000]

Inputs (measured here, one core each, read from bench/results/):
* extraction pages/s per worker: ``extraction_scale.json`` (``bench/bench_extraction_scale.py``),
  on the WCXB crawl (real pages of 7 types: the closest to a Common Crawl mix we have);
* dedup documents/s per worker: ``dedup_scale.json`` (``bench/bench_dedup_scale.py --full``: the
  whole dedup), scaled by document length (the signature cost is linear in characters);
* tagging and decontamination documents/s per worker: ``tag_decontam_scale.json``
  (``bench/bench_tag_decontam_scale.py``, the engine steps on the WCXB pages' main text), scaled
  by document length like dedup.

Assumptions (flags): pages per dump (Common Crawl's monthly dumps hold a few billion pages),
the share of pages that survive extraction, the mean characters of an extracted document.
Throughput per core is taken from the 1-worker runs: on this 2-vCPU machine a second worker adds
only what the second vCPU gives (about 1.3x), which says nothing of a cluster's physical cores.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str) -> dict:
    path = ROOT / "bench" / "results" / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: run the bench that writes it first")
    return json.loads(path.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=float, default=3.0e9, help="HTML pages in the dump")
    ap.add_argument("--kept-after-extraction", type=float, default=0.6)
    ap.add_argument("--chars-per-doc", type=float, default=3000.0, help="mean characters of an extracted document")
    ap.add_argument("--bench-chars-per-doc", type=float, default=822.0,
                    help="characters per document of the dedup bench's corpus when its results do not say")
    ap.add_argument("--tagger-docs-per-s", type=float, default=None,
                    help="tagger documents/s per core (default: tag_decontam_scale.json, scaled to --chars-per-doc)")
    ap.add_argument("--cores", type=int, default=2000, help="cores of the cluster, for wall-clock hours")
    args = ap.parse_args()

    runs = _load("extraction_scale.json")["crawls"]["wcxb_crawl"]["runs"]
    ext = next((r for r in runs if r.get("runner") == "engine" and r["workers"] == 1), runs[0])
    dedup_scale = _load("dedup_scale.json")
    big = max(dedup_scale["scales"], key=lambda s: s["docs"])
    bench_chars = big.get("chars_per_doc", args.bench_chars_per_doc)
    dedup_run = big.get("full_w1") or big["stages_w1"]  # the whole dedup when the bench ran it (--full)
    dedup_dps = dedup_run["docs_per_s"] * min(1.0, bench_chars / args.chars_per_doc)
    dedup_name = "global dedup (URL, exact, MinHash, writer)" if "full_w1" in big else "global MinHash dedup"
    docs = args.pages * args.kept_after_extraction
    rows = [("extraction (engine)", args.pages, ext["pages_per_s"]), (dedup_name, docs, dedup_dps)]
    steps = _load("tag_decontam_scale.json")["summary"]
    length = steps["chars_per_doc"] / args.chars_per_doc  # both steps are linear in characters
    tag_dps = args.tagger_docs_per_s or steps["tag_docs_per_s"]["engine_1"] * length
    rows.append(("tagging (classifier, text statistics, heuristic filters)", docs, tag_dps))
    rows.append(("decontamination (13-grams of MATH-500, AIME, HumanEval)", docs,
                 steps["decontam_docs_per_s"]["engine_1"] * length))
    total = 0.0
    print(f"| stage | items | per core /s | core-hours | hours on {args.cores} cores |")
    print("| --- | --- | --- | --- | --- |")
    for name, items, rate in rows:
        core_h = items / rate / 3600
        total += core_h
        print(f"| {name} | {items:.3g} | {rate:,.1f} | {core_h:,.0f} | {core_h / args.cores:,.1f} |")
    print(f"| **total** | | | **{total:,.0f}** | **{total / args.cores:,.1f}** |")
    print(json.dumps({"pages": args.pages, "core_hours": round(total), "hours_on_cores": round(total / args.cores, 1),
                      "cores": args.cores}))


if __name__ == "__main__":
    main()
