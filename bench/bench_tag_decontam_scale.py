"""Benchmark: classifier tagging and benchmark decontamination on the data engine with 1 and 2
workers, against the same work in one process, on real page texts (the WCXB development split's
ground-truth main content, 1,497 pages of 7 types, repeated to ``--docs`` documents).

    python bench/bench_tag_decontam_scale.py [--docs 12000] [--out bench/results/tag_decontam_scale.json]

Tagging runs the tagger trained here on the texts' teacher labels (as ``tagger_model`` does);
``tag_on_engine`` and ``hits_on_engine`` are what ``tagged_pages`` and ``filtered_corpus`` run.
Wall clock includes starting the task processes. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
WCXB_TRUTH = ROOT.parent / "shared" / "benchmarks" / "wcxb-dev" / "dev" / "ground-truth"


def _texts(n: int) -> list[str]:
    base = []
    for path in sorted(glob.glob(str(WCXB_TRUTH / "*.json"))):
        text = json.loads(Path(path).read_text(encoding="utf-8"))["ground_truth"].get("main_content") or ""
        if text.strip():
            base.append(text)
    return [base[i % len(base)] + ("" if i < len(base) else f"\n(copy {i // len(base)})") for i in range(n)]


def _timed(fn) -> tuple[object, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _row(name: str, workers: int | None, n: int, seconds: float) -> dict:
    print(f"[bench] {name} workers={workers}: {n / seconds:,.0f} docs/s ({seconds:.2f}s)", flush=True)
    return {"run": name, "workers": workers, "docs": n, "seconds": round(seconds, 2), "docs_per_s": round(n / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=12000)
    ap.add_argument("--out", default=str(ROOT / "bench/results/tag_decontam_scale.json"))
    args = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from mimo.data.decontam import ContaminationIndex, load_benchmark_texts
    from mimo.data.decontam_steps import hits_on_engine
    from mimo.data.engine import EngineConfig
    from mimo.data.tagging.annotator import annotate
    from mimo.data.tagging.classifier import TaggerModel, TaggerModelConfig
    from mimo.data.tagging.columns import tag_columns
    from mimo.data.tagging.engine_steps import tag_on_engine
    from mimo.data.tagging.tagger import ClassifierTagger

    texts = _texts(args.docs)
    chars = sum(len(t) for t in texts) / len(texts)
    bench = load_benchmark_texts(ROOT.parent / "shared")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        tmp_path = Path(tmp)
        pq.write_table(pa.table({"text": texts}), tmp_path / "pages.parquet")
        model = TaggerModel(TaggerModelConfig(epochs=5, holdout_fraction=0.0))
        model.fit(texts[:1500], [annotate(t) for t in texts[:1500]])
        (tmp_path / "model").mkdir()
        model.save(str(tmp_path / "model"))
        torch.set_num_threads(1)
        local, s = _timed(lambda: tag_columns(texts, ClassifierTagger(TaggerModel.load(str(tmp_path / "model"))).tag(texts)))
        rows.append(_row("tag in process (1 thread)", None, len(texts), s))
        for w in (1, 2):
            cols, s = _timed(lambda: tag_on_engine(str(tmp_path / "pages.parquet"), str(tmp_path / "model"),
                                                   tmp_path / f"tag{w}", w, EngineConfig(workers=w)))
            assert cols["domain"] == local["domain"], "engine tagging differs from in-process tagging"
            rows.append(_row("tag on engine", w, len(texts), s))
        hits, s = _timed(lambda: ContaminationIndex.build(bench).contaminated(texts))
        rows.append(_row("decontaminate in process", None, len(texts), s))
        for w in (1, 2):
            got, s = _timed(lambda: hits_on_engine(str(tmp_path / "pages.parquet"), bench, tmp_path / f"dc{w}", w,
                                                   EngineConfig(workers=w)))
            assert got == hits, "engine decontamination differs from the in-process check"
            rows.append(_row("decontaminate on engine", w, len(texts), s))
    by = {(r["run"], r["workers"]): r["docs_per_s"] for r in rows}
    summary = {"docs": len(texts), "chars_per_doc": round(chars),
               "tag_docs_per_s": {"in_process": by[("tag in process (1 thread)", None)],
                                  "engine_1": by[("tag on engine", 1)], "engine_2": by[("tag on engine", 2)]},
               "decontam_docs_per_s": {"in_process": by[("decontaminate in process", None)],
                                       "engine_1": by[("decontaminate on engine", 1)],
                                       "engine_2": by[("decontaminate on engine", 2)]},
               "tag_ratio_2v1": round(by[("tag on engine", 2)] / by[("tag on engine", 1)], 3),
               "decontam_ratio_2v1": round(by[("decontaminate on engine", 2)] / by[("decontaminate on engine", 1)], 3)}
    out = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "runs": rows, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
