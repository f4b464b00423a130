"""Benchmark: extraction throughput (pages/s, wall clock) of the extraction asset's path with 1 and 2
workers, on the tiny profile's crawl and on a larger crawl made of the WCXB development pages.

    python bench/bench_extraction_scale.py [--repeat-wcxb 1] [--runners pool engine] [--out ...]

Both crawls are WARC files read by the crawl asset's reader; extraction runs ``_extract_all`` of
``assets/extraction.py`` (guarded worker processes driven from one process: ``runner: pool``) and
``extract_on_engine`` (data-engine tasks, each a slice of the records: ``runner: engine``, the
default), exactly what ``extracted_pages`` runs per crawl file. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Quiet:
    def info(self, *_: object) -> None:
        pass


def _records(paths: list[str]) -> list[dict]:
    from mimo.data.warc import WarcHtmlRecord, read_warc_file

    rows = []
    for path in paths:
        for item in read_warc_file(path).items:
            if isinstance(item, WarcHtmlRecord):
                rows.append({"payload": item.payload, "url": item.url, "http_charset": item.http_charset})
    return rows


def _tiny_crawl(tmp: Path) -> list[str]:
    from mimo.data.tiny_crawl import build_tiny_crawl

    out = tmp / "tiny"
    build_tiny_crawl(str(out))
    return sorted(str(p) for p in out.glob("*.warc.gz"))


def _wcxb_crawl(tmp: Path, repeat: int) -> list[str]:
    from bench._wcxb import load
    from mimo.data.warc import PageToWrite, write_warc

    pages, truth = load()
    items = [PageToWrite(truth[fid].get("url") or f"https://wcxb.example/{fid}", html) for fid, html in pages.items()]
    paths = []
    for r in range(repeat):
        path = tmp / f"wcxb-{r}.warc.gz"
        write_warc(items, str(path))
        paths.append(str(path))
    return paths


def _measure(rows: list[dict], workers: int, runner: str, tmp: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from assets.extraction import _extract_all
    from mimo.data.engine import EngineConfig
    from mimo.data.extract.config import ExtractConfig
    from mimo.data.extract.engine_steps import extract_on_engine

    cfg = ExtractConfig(page_types=True)
    records = tmp / "records.parquet"
    if runner == "engine" and not records.exists():
        pq.write_table(pa.Table.from_pylist(rows), records)
    t0 = time.perf_counter()
    if runner == "engine":
        outcomes = extract_on_engine(str(records), tmp / f"work-{workers}", cfg, workers, EngineConfig(workers=workers))
    else:
        outcomes = _extract_all(rows, cfg, workers, _Quiet(), 10**9)
    seconds = time.perf_counter() - t0
    return {"runner": runner, "workers": workers, "pages": len(rows), "seconds": round(seconds, 2),
            "pages_per_s": round(len(rows) / seconds, 2), "extracted": sum(1 for o in outcomes if not o.skip_reason)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat-wcxb", type=int, default=1, help="copies of the 1,497 WCXB pages in the big crawl")
    ap.add_argument("--runners", nargs="+", choices=["pool", "engine"], default=["pool", "engine"])
    ap.add_argument("--out", default=str(ROOT / "bench/results/extraction_scale.json"))
    args = ap.parse_args()
    results: dict = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "crawls": {}}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        for name, paths in (("tiny_crawl", _tiny_crawl(Path(tmp))), ("wcxb_crawl", _wcxb_crawl(Path(tmp), args.repeat_wcxb))):
            rows = _records(paths)
            (Path(tmp) / name).mkdir()
            runs = [_measure(rows, w, r, Path(tmp) / name) for r in args.runners for w in (1, 2)]
            rate = {(x["runner"], x["workers"]): x["pages_per_s"] for x in runs}
            results["crawls"][name] = {"files": len(paths), "runs": runs, **{
                f"speedup_2v1_{r}": round(rate[(r, 2)] / rate[(r, 1)], 3) for r in args.runners}}
            print(f"[bench] {name}: {json.dumps(results['crawls'][name])}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps({k: {"pages": v["runs"][0]["pages"],
                          **{f"{x['runner']}_pages_per_s_{x['workers']}": x["pages_per_s"] for x in v["runs"]},
                          **{key: val for key, val in v.items() if key.startswith("speedup")}}
                      for k, v in results["crawls"].items()}))


if __name__ == "__main__":
    main()
