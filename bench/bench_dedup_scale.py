"""Benchmark: global MinHash dedup in bounded-memory stages on the data engine vs the in-memory pass.

    python bench/bench_dedup_scale.py [--docs 1000000] [--shard-docs 50000] [--also 100000] [--full]
                                      [--out bench/results/dedup_scale.json]

Corpus: synthetic documents (60-140 words drawn from a Zipf law over a 100k-word vocabulary), and
planted near-duplicates: 10 % of the documents copy an earlier one, often from another shard, with
1-3 % of the words replaced and up to 1 % deleted. Written as parquet shards of ``--shard-docs``.

Runs, each in a fresh process on the same shards:
* ``in_memory``: :func:`mimo.data.dedup.minhash_dedup` over every text at once (today's asset);
* ``stages_w1`` / ``stages_w2``: :func:`mimo.data.dedup.stages.multistage_minhash` on datatrove's
  local executor with 1 and 2 worker processes (peak RSS per worker = the largest task process);
* ``full_w1`` / ``full_w2`` (``--full``): the whole dedup of ``deduplicated_pages``
  (:func:`mimo.data.dedup.stages.full.full_dedup`: URL and exact passes, MinHash, and the writer
  of the kept rows), on the same shards (every document has its own URL, so its removals are the
  MinHash ones).

Recall: planted duplicates removed; false positives: removed documents that were not planted. The
removed sets of the stages and of the in-memory pass are compared document by document. ``--also``
repeats the stages at a smaller corpus with the same shard size, to show that memory per worker
does not grow with the corpus. Ends with one JSON line (docs, peak_rss_mb_per_worker,
throughput_ratio_2v1, recall, recall_in_memory).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VOCAB = 100_000


def _vocab(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, size=VOCAB)
    chars = letters[rng.integers(0, 26, size=int(lengths.sum()))]
    cuts = np.cumsum(lengths)[:-1]
    return np.array(["".join(w) for w in np.split(chars, cuts)], dtype=object)


def _original(i: int, seed: int) -> np.ndarray:
    """Word ids of document ``i`` as first written (a pure function of ``i``)."""
    rng = np.random.default_rng((seed, i))
    return np.minimum(rng.zipf(1.3, size=int(rng.integers(60, 141))), VOCAB) - 1


def _near_copy(words: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    w = words.copy()
    k = max(1, int(len(w) * rng.uniform(0.01, 0.03)))
    w[rng.choice(len(w), size=k, replace=False)] = rng.integers(0, VOCAB, size=k)
    drop = int(len(w) * rng.uniform(0.0, 0.01))
    if drop:
        w = np.delete(w, rng.choice(len(w), size=drop, replace=False))
    return w


def make_corpus(out: Path, docs: int, shard_docs: int, seed: int = 7,
                dup_rate: float = 0.1) -> tuple[list[str], np.ndarray, int]:
    """Parquet shards of ``text``, per document the planted source index (-1: an original), and
    the total characters."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    vocab = _vocab(seed)
    rng = np.random.default_rng(seed + 1)
    is_dup = rng.random(docs) < dup_rate
    is_dup[:1000] = False
    window = 3 * shard_docs  # sources up to three shards back: most pairs cross shards
    source = np.where(is_dup, np.maximum(0, np.arange(docs) - 1 - rng.integers(0, window, size=docs)), -1)
    # a planted copy is made from its source's original words (sources that are copies themselves
    # are followed back to their original, so every planted pair is a near-copy of one text)
    root = np.arange(docs)
    for i in np.flatnonzero(is_dup):
        root[i] = root[source[i]]
    paths, chars = [], 0
    for s, lo in enumerate(range(0, docs, shard_docs)):
        texts = []
        for i in range(lo, min(lo + shard_docs, docs)):
            words = _original(int(root[i]), seed)
            if is_dup[i]:
                words = _near_copy(words, np.random.default_rng((seed, i, 1)))
            texts.append(" ".join(vocab[words]))
        chars += sum(map(len, texts))
        path = out / f"shard-{s:05d}.parquet"
        urls = [f"https://host{i % 997}.example/doc/{i}" for i in range(lo, lo + len(texts))]
        pq.write_table(pa.table({"url": urls, "text": texts}), path)
        paths.append(str(path))
    return paths, source, chars


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_memory(paths: list[str], result: str) -> None:
    import pyarrow.parquet as pq

    from mimo.data.dedup import minhash_dedup

    t0 = time.perf_counter()
    texts: list[str] = []
    offsets = [0]
    for p in paths:
        texts += pq.read_table(p, columns=["text"]).column(0).to_pylist()
        offsets.append(len(texts))
    res = minhash_dedup(texts)
    removed = np.flatnonzero(~res.keep)
    np.save(result + ".npy", np.stack([removed, res.cluster_id[removed]], axis=1))
    Path(result).write_text(json.dumps({"seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_mb()}))


def _stages(paths: list[str], work: str, workers: int, max_bucket_records: int, shard_docs: int, result: str) -> None:
    from mimo.data.dedup.stages import multistage_minhash
    from mimo.data.engine import EngineConfig

    log = os.open(f"{work}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 2)  # the engine's log lines (each task's are also kept under work/logs)
    t0 = time.perf_counter()
    res = multistage_minhash(paths, work, engine=EngineConfig(workers=workers), max_bucket_records=max_bucket_records)
    seconds = time.perf_counter() - t0
    rows = [np.stack([s * shard_docs + r[:, 0], (r[:, 1] >> 32) * shard_docs + (r[:, 1] & 0xFFFFFFFF)], axis=1)
            for s, r in enumerate(res.removed) if len(r)]
    np.save(result + ".npy", np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64))
    Path(result).write_text(json.dumps({
        "seconds": seconds, "peak_rss_mb_per_worker": res.peak_rss_mb_per_worker, "parts": res.parts,
        "driver_peak_rss_mb": _peak_mb(),
        "stages": {s.name: {"tasks": s.tasks, "seconds": round(s.seconds, 2), "max_rss_mb": s.max_rss_mb}
                   for s in res.stages}}))


def _full(paths: list[str], work: str, workers: int, max_bucket_records: int, shard_docs: int, result: str) -> None:
    import pyarrow.parquet as pq

    from mimo.data.dedup.stages.full import full_dedup
    from mimo.data.engine import EngineConfig

    log = os.open(f"{work}.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(log, 2)
    t0 = time.perf_counter()
    res = full_dedup(paths, work, engine=EngineConfig(workers=workers), max_bucket_records=max_bucket_records)
    seconds = time.perf_counter() - t0
    rows = []
    for s, path in enumerate(res.removals):
        t = pq.read_table(path)
        kept = np.array(t["kept_id"].to_pylist(), dtype=np.int64)
        rows.append(np.stack([s * shard_docs + np.array(t["row"].to_pylist(), dtype=np.int64),
                              (kept >> 32) * shard_docs + (kept & 0xFFFFFFFF)], axis=1))
    np.save(result + ".npy", np.concatenate(rows) if rows else np.zeros((0, 2), dtype=np.int64))
    Path(result).write_text(json.dumps({
        "seconds": seconds, "peak_rss_mb_per_worker": res.peak_rss_mb_per_worker, "driver_peak_rss_mb": _peak_mb(),
        "kept_rows": sum(pq.ParquetFile(p).metadata.num_rows for p in res.kept),
        "stages": {s.name: {"tasks": s.tasks, "seconds": round(s.seconds, 2), "max_rss_mb": s.max_rss_mb}
                   for s in res.stages}}))


def _spawn(target, *args) -> None:
    proc = mp.get_context("spawn").Process(target=target, args=args)
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed with exit code {proc.exitcode}")


def _score(removed: np.ndarray, source: np.ndarray) -> dict:
    planted = source >= 0
    gone = np.zeros(len(source), dtype=bool)
    gone[removed[:, 0]] = True
    return {"removed": int(gone.sum()), "recall": round(float(gone[planted].mean()), 5),
            "false_positives": int((gone & ~planted).sum()),
            "false_positive_rate": round(float((gone & ~planted).sum() / max(1, (~planted).sum())), 6)}


def run_scale(tmp: Path, docs: int, shard_docs: int, max_bucket_records: int, with_baseline: bool,
              full: bool = False) -> dict:
    data = tmp / f"corpus-{docs}"
    data.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    paths, source, chars = make_corpus(data, docs, shard_docs)
    out: dict = {"docs": docs, "shards": len(paths), "shard_docs": shard_docs, "planted": int((source >= 0).sum()),
                 "chars_per_doc": round(chars / docs, 1),
                 "corpus_mb": round(sum(os.path.getsize(p) for p in paths) / 2**20, 1),
                 "generate_seconds": round(time.perf_counter() - t0, 1)}
    print(f"[bench] {docs} docs in {len(paths)} shards ({out['corpus_mb']} MB parquet, "
          f"{out['planted']} planted) in {out['generate_seconds']} s", flush=True)
    removed = {}
    runs = [("stages_w1", 1), ("stages_w2", 2)] + ([("in_memory", 0)] if with_baseline else [])
    runs += [("full_w1", 1), ("full_w2", 2)] if full else []
    for name, workers in runs:
        result = str(tmp / f"{name}-{docs}.json")
        if workers:
            work = tmp / f"work-{name}-{docs}"
            shutil.rmtree(work, ignore_errors=True)
            _spawn(_full if name.startswith("full") else _stages, paths, str(work), workers, max_bucket_records,
                   shard_docs, result)
            shutil.rmtree(work, ignore_errors=True)
        else:
            _spawn(_in_memory, paths, result)
        rec = json.loads(Path(result).read_text())
        removed[name] = np.load(result + ".npy")
        rec.update(_score(removed[name], source), docs_per_s=round(docs / rec["seconds"], 1))
        out[name] = rec
        print(f"[bench] {name}: {json.dumps(rec)}", flush=True)
    if with_baseline:
        a = {tuple(r) for r in removed["stages_w1"].tolist()}
        b = {tuple(r) for r in removed["in_memory"].tolist()}
        out["same_as_in_memory"] = {"stages_only": len(a - b), "in_memory_only": len(b - a), "identical": a == b}
        if full:
            c = {tuple(r) for r in removed["full_w1"].tolist()}
            out["full_same_as_in_memory"] = c == b
    if full:
        out["full_throughput_ratio_2v1"] = round(out["full_w2"]["docs_per_s"] / out["full_w1"]["docs_per_s"], 3)
    out["throughput_ratio_2v1"] = round(out["stages_w2"]["docs_per_s"] / out["stages_w1"]["docs_per_s"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--shard-docs", type=int, default=50_000)
    ap.add_argument("--also", type=int, default=100_000, help="a smaller corpus, same shard size (0: none)")
    ap.add_argument("--max-bucket-records", type=int, default=1_000_000)
    ap.add_argument("--full", action="store_true", help="also the whole dedup (URL, exact, MinHash, writer)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/dedup_scale.json"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dedup-scale-", dir=os.environ.get("TMPDIR")))
    try:
        results = {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                               "python": platform.python_version()}, "args": vars(args), "scales": []}
        if args.also:
            results["scales"].append(run_scale(tmp, args.also, args.shard_docs, args.max_bucket_records, True,
                                               args.full))
        big = run_scale(tmp, args.docs, args.shard_docs, args.max_bucket_records, True, args.full)
        results["scales"].append(big)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps({"docs": big["docs"], "peak_rss_mb_per_worker": big["stages_w2"]["peak_rss_mb_per_worker"],
                      "throughput_ratio_2v1": big["throughput_ratio_2v1"], "recall": big["stages_w2"]["recall"],
                      "recall_in_memory": big["in_memory"]["recall"]}))


if __name__ == "__main__":
    main()
