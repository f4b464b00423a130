"""Benchmark the extractor against plain trafilatura.

1. Article-extraction benchmark (scrapinghub/article-extraction-benchmark, 181 pages): that
   benchmark's own metric -- per page, multisets of 4-token shingles of ``\\w+`` tokens, TP/FP/FN
   normalised to sum to 1, precision and recall averaged over pages (precision only over pages with
   a prediction, recall over pages with ground truth), F1 of the two means.
2. Single-core throughput (pages/s, from the CPU time of this one process pinned to one core; wall
   time too) of the extractors on the same pages: CPU time page by page, the extractors in rotating
   order on each page (so a slow spell of the machine does not favour one), best of N repeats.
3. Formula / code-block survival (and boilerplate leaks) on the math/code fixture pages
   (data/tiny/pages/manifest.json), when present.
4. WCXB development split (1,497 real pages of 7 page types, ``../shared/benchmarks/wcxb-dev``): the
   benchmark's own scorer (word-level F1, snippet inclusion / exclusion), overall and per page type,
   with pages/s (one core, CPU time, page by page in rotating order) on those pages, and the
   share of the pages' code blocks that each extractor keeps whole.

Usage: python bench/bench_extraction.py [--out bench/results/extraction.json] [--repeats 3]
       [--wcxb-limit N] [--no-wcxb]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # one core: no BLAS threads
    os.environ.setdefault(_var, "1")

import trafilatura

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from mimo.data.extract import ExtractConfig, extract_html

BENCH_DIR = ROOT.parent / "shared" / "benchmarks" / "article_extraction"
PAGES_DIR = ROOT / "data" / "tiny" / "pages"
_TOKEN_RE = re.compile(r"\w+", re.UNICODE | re.MULTILINE | re.IGNORECASE | re.DOTALL)


# ---- the benchmark's metric -------------------------------------------------------------------
def _shingles(text: str | None, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN_RE.findall(text or "")
    return Counter(
        tuple(tokens[i : i + n])
        for i in range(max(1, len(tokens) - n + 1))
        if tokens[i : i + n]
    )


def tp_fp_fn(true: str, pred: str | None) -> tuple[float, float, float]:
    """Shingle TP/FP/FN of one page, normalised so that they sum to 1."""
    ts, ps = _shingles(true), _shingles(pred)
    tp = fp = fn = 0.0
    for key in set(ts) | set(ps):
        t, p = ts.get(key, 0), ps.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    s = tp + fp + fn
    return (tp / s, fp / s, fn / s) if s > 0 else (tp, fp, fn)


def _precision(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fp == 0 else tp / (tp + fp)


def _recall(tp: float, fp: float, fn: float) -> float:
    if fp == fn == 0:
        return 1.0
    return 0.0 if tp == fn == 0 else tp / (tp + fn)


def metrics(rows: list[tuple[float, float, float]]) -> dict[str, float]:
    """Mean precision, mean recall and F1 of the means, as the benchmark computes them."""
    p = statistics.mean(_precision(*r) for r in rows if r[0] + r[1] > 0)
    r = statistics.mean(_recall(*x) for x in rows if x[0] + x[2] > 0)
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r)}


# ---- runs -------------------------------------------------------------------------------------
def load_pages() -> tuple[dict[str, str], dict[str, str]]:
    """(sha -> html text, sha -> ground-truth articleBody)."""
    truth = json.loads((BENCH_DIR / "ground-truth.json").read_text(encoding="utf-8"))
    pages = {}
    for key in truth:
        with gzip.open(
            BENCH_DIR / "html" / f"{key}.html.gz", "rt", encoding="utf8"
        ) as f:
            pages[key] = f.read()
    return pages, {k: v.get("articleBody", "") for k, v in truth.items()}


Runner = Callable[..., "str | None"]  # (html, url=None) -> text


def _plain(html: str | bytes, url: str | None = None) -> str | None:
    return trafilatura.extract(html, url=url)


def _ours_factory(config: ExtractConfig) -> Runner:
    def ours(html: str | bytes, url: str | None = None) -> str | None:
        return extract_html(html, url=url, config=config).text

    return ours


def run_all(fn: Runner, pages: dict[str, str], urls: dict[str, str | None] | None = None,
            ) -> tuple[dict[str, str | None], float, float]:
    """Outputs, CPU seconds and wall seconds over all pages (CPU time of this single-threaded
    process is what one core spends; wall time is also reported but suffers from other load)."""
    urls = urls or {}
    c0, t0 = time.process_time(), time.perf_counter()
    out = {k: fn(h, urls.get(k)) for k, h in pages.items()}
    return out, time.process_time() - c0, time.perf_counter() - t0


def _math_forms(tex: str) -> tuple[str, ...]:
    return (f"${tex}$", f"$${tex}$$", f"\\({tex}\\)", f"\\[{tex}\\]", f"$ {tex} $", f"$$ {tex} $$")


def _load_fixture_spec() -> list[dict[str, Any]]:
    for name in ("manifest.json", "expected.json"):
        path = PAGES_DIR / name
        if path.exists():
            spec = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(spec, dict):
                return [{"file": k, **v} for k, v in spec.items()]
            return list(spec)
    return []


def survival(fn: Runner) -> dict[str, Any] | None:
    """On the math/code fixture pages: formulas found as delimited TeX (``$..$``, ``$$..$$``,
    ``\\(..\\)``, ``\\[..\\]``), code blocks found verbatim, boilerplate strings leaked."""
    spec = _load_fixture_spec()
    if not spec:
        return None
    tally = {"formulas": [0, 0], "code_blocks": [0, 0], "boilerplate_leaked": [0, 0]}
    misses: dict[str, list[str]] = {}
    for entry in spec:
        path = PAGES_DIR / str(entry.get("file"))
        if not path.exists():
            continue
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = fn(raw) or ""
        for tex in entry.get("formulas", []):
            ok = any(form in text for form in _math_forms(tex)) or (
                "\\begin{" in tex and tex in text)
            tally["formulas"][0] += ok
            tally["formulas"][1] += 1
            if not ok:
                misses.setdefault(path.name, []).append("formula: " + tex[:80])
        for code in entry.get("code_blocks", []):
            ok = code in text
            tally["code_blocks"][0] += ok
            tally["code_blocks"][1] += 1
            if not ok:
                misses.setdefault(path.name, []).append("code: " + code[:80])
        for junk in entry.get("boilerplate", []):
            leaked = junk in text
            tally["boilerplate_leaked"][0] += leaked
            tally["boilerplate_leaked"][1] += 1
            if leaked:
                misses.setdefault(path.name, []).append("boilerplate: " + junk[:80])
    out: dict[str, Any] = {g: {"found": f, "expected": e, "rate": (f / e if e else None)}
                           for g, (f, e) in tally.items()}
    out["misses"] = misses
    return out


def _squash(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


class TypedRunner:
    """The page-type-aware extractor; keeps the last run's page types and quality scores."""

    def __init__(self) -> None:
        self.config = ExtractConfig(page_types=True)
        self.outcomes: list[Any] = []

    def __call__(self, html: str | bytes, url: str | None = None) -> str | None:
        out = extract_html(html, url=url, config=self.config)
        self.outcomes.append(out)
        return out.text


def _auc(scored: list[tuple[float, bool]]) -> float:
    """ROC AUC of the scores for the positive (True) rows."""
    pos = [s for s, w in scored if w]
    neg = [s for s, w in scored if not w]
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / max(len(pos) * len(neg), 1)


def quality_report(typed: TypedRunner, ids: list[str], outputs: dict[str, str | None], truth: dict) -> dict[str, Any]:
    """How well the quality score flags pages with word-F1 below 0.8 (ROC AUC), and the page-type
    accuracy against the benchmark's labels: on all pages (mostly the model's training sites) and on
    the held-out sites alone."""
    import _wcxb

    from mimo.data.extract.pagetype_model import held_out, site_of

    outcomes = typed.outcomes[-len(ids):]
    f1 = _wcxb.per_page_f1(outputs, truth)
    weak = [(1.0 - (o.quality or 0.0), f1[i] < 0.8) for i, o in zip(ids, outcomes)]
    pos = [s for s, w in weak if w]
    auc = _auc(weak)
    held = [row for row, i in zip(weak, ids) if held_out(site_of(truth[i].get("url")))]
    typed_ok = sum(o.page_type == truth[i]["page_type"] for i, o in zip(ids, outcomes))
    unseen = [o.page_type == truth[i]["page_type"] for i, o in zip(ids, outcomes)
              if held_out(site_of(truth[i].get("url")))]
    low = sorted(weak, reverse=True)[: len(weak) // 10]
    return {"weak_pages": len(pos), "quality_auc_for_f1_below_0.8": round(auc, 4),
            "quality_auc_held_out_sites": round(_auc(held), 4),
            "weak_share_in_lowest_decile_of_quality": round(sum(w for _, w in low) / max(len(low), 1), 4),
            "page_type_accuracy": round(typed_ok / max(len(ids), 1), 4),
            "page_type_accuracy_held_out_sites": round(sum(unseen) / max(len(unseen), 1), 4),
            "held_out_pages": len(unseen)}


def run_interleaved(runners: dict[str, Runner], pages: dict[str, str | bytes], urls: dict[str, str | None],
                    ) -> tuple[dict[str, dict[str, str | None]], dict[str, float]]:
    """Every runner's outputs and CPU seconds, page by page, each page's runners in rotating order: the
    extractors see the same machine state, so a slow spell of the machine does not favour one of them."""
    names = list(runners)
    outputs: dict[str, dict[str, str | None]] = {name: {} for name in names}
    cpu = dict.fromkeys(names, 0.0)
    for i, (key, html) in enumerate(pages.items()):
        for name in names[i % len(names):] + names[:i % len(names)]:
            c0 = time.process_time()
            outputs[name][key] = runners[name](html, urls.get(key))
            cpu[name] += time.process_time() - c0
    return outputs, cpu


def wcxb_section(runners: dict[str, Runner], limit: int | None,
                 typed: TypedRunner) -> dict[str, Any]:
    """The extractors on the WCXB dev pages: scores per page type side by side, pages/s, code blocks
    kept whole, and the page-type extractor ("ours")'s page-type accuracy and quality-score AUC."""
    import _wcxb

    pages, truth = _wcxb.load(limit)
    kept, cpu = run_interleaved(runners, pages, {k: t.get("url") for k, t in truth.items()})
    scores = {name: _wcxb.score(kept[name], truth) for name in runners}
    speed = {name: len(pages) / cpu[name] for name in runners}
    quality = quality_report(typed, list(pages), kept["ours"], truth)
    code = _wcxb.code_survival(pages, kept)
    names = list(runners)
    print(f"\nWCXB dev ({len(pages)} pages), the benchmark's word-level F1 (with / without: snippet rates)")
    print(f"{'page type':<14}{'n':>5}" + "".join(f"{n + ' F1':>16}{'with':>7}{'w/o':>7}" for n in names))
    for group in ("all", *_wcxb.TYPES):
        if group not in scores[names[0]]:
            continue
        row = scores[names[0]][group]
        print(f"{group:<14}{row['n']:>5}" + "".join(
            f"{scores[n][group]['f1']:>16.3f}{scores[n][group]['with_rate']:>7.2f}{scores[n][group]['without_rate']:>7.2f}"
            for n in names))
    print("pages/s (one core): " + ", ".join(f"{n} {speed[n]:.1f}" for n in names)
          + "; ratio over trafilatura: " + ", ".join(f"{n} {speed[n] / speed['trafilatura']:.2f}" for n in names[1:]))
    if quality:
        print("ours (by page type): " + json.dumps(quality))
    print(f"code blocks kept whole ({code['code_blocks']} blocks on {code['pages_with_code']} pages): "
          + ", ".join(f"{n} {code[n]['kept']} ({code[n]['rate']:.3f})" for n in names))
    return {"n_pages": len(pages), "scores": scores, "pages_per_s": speed, "quality": quality, "code_blocks": code,
            "throughput_ratio_ours_over_trafilatura": speed["ours"] / speed["trafilatura"]}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a table, write the JSON results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out", default=str(ROOT / "bench" / "results" / "extraction.json")
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--wcxb-limit", type=int, default=None, help="first N pages of the WCXB dev split")
    ap.add_argument("--no-wcxb", action="store_true")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    pages, truth = load_pages()
    typed = TypedRunner()
    # "ours" is what the extraction asset and `mimo extract` run: extraction by page type
    runners = {"trafilatura": _plain, "ours_untyped": _ours_factory(ExtractConfig()), "ours": typed}
    outputs: dict[str, dict[str, str | None]] = {}
    times: dict[str, list[float]] = {name: [] for name in runners}
    walls: dict[str, list[float]] = {name: [] for name in runners}
    for fn in runners.values():  # warm-up: imports, lazy models, caches
        for html in list(pages.values())[:10]:
            fn(html)
    for _ in range(max(1, args.repeats)):
        for name, fn in runners.items():  # wall time: each extractor over all pages in turn
            outputs[name], _, wall = run_all(fn, pages)
            walls[name].append(wall)
        _, cpu = run_interleaved(runners, pages, {})  # CPU time: page by page, in rotating order
        for name in runners:
            times[name].append(cpu[name])
    results: dict[str, Any] = {
        "n_pages": len(pages),
        "repeats": args.repeats,
        "extractors": {},
    }
    print(
        f"{'extractor':<14} {'precision':>9} {'recall':>7} {'F1':>7} {'pages/s':>8} {'wall p/s':>8}"
    )
    for name, runner in runners.items():
        m = metrics([tp_fp_fn(truth[k], outputs[name][k]) for k in truth])
        pps = len(pages) / min(times[name])
        wall_pps = len(pages) / min(walls[name])
        results["extractors"][name] = {
            **m,
            "pages_per_s": pps,
            "wall_pages_per_s": wall_pps,
            "cpu_seconds": times[name],
            "wall_seconds": walls[name],
            "survival": survival(runner),
        }
        print(
            f"{name:<14} {m['precision']:9.4f} {m['recall']:7.4f} {m['f1']:7.4f} {pps:8.1f} {wall_pps:8.1f}"
        )
    typed.outcomes.clear()
    ratio = (
        results["extractors"]["ours"]["pages_per_s"]
        / results["extractors"]["trafilatura"]["pages_per_s"]
    )
    results["throughput_ratio_ours_over_trafilatura"] = ratio
    print(
        f"throughput ratio ours/trafilatura: {ratio:.2f} (CPU time of one process pinned to one core, page by "
        f"page in rotating order, best of {args.repeats})"
    )
    for name in runners:
        surv = results["extractors"][name]["survival"]
        if surv:
            counts = "  ".join(
                f"{g}: {v['found']}/{v['expected']}" for g, v in surv.items() if g != "misses"
            )
            print(f"fixtures {name:<14} {counts}")
    if not args.no_wcxb:
        results["wcxb_dev"] = wcxb_section(runners, args.wcxb_limit, typed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
