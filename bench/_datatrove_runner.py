"""datatrove side of bench/bench_minhash.py (runs under the datatrove venv, not the project's).

Usage: python bench/_datatrove_runner.py CORPUS.jsonl RESULT.json WORKDIR [SEED]
Runs MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster -> MinhashDedupFilter
with LocalPipelineExecutor(workers=1) on the in-memory documents and writes timings + the
cluster id of every document (lowest doc index of its cluster, like ours) to RESULT.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import struct
import sys
import time
from pathlib import Path


def main() -> None:
    corpus, result_path, workdir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    from importlib.metadata import version

    import numpy
    import xxhash
    from datatrove.data import Document
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        """str.split word tokenizer: datatrove's English default needs spaCy (slower);
        simplify_text already removed punctuation, so this matches our tokenization."""

        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    with open(corpus, encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, seed=seed)
    sigs, buckets, clusters, logs = (
        workdir / p for p in ("sigs", "buckets", "clusters", "logs")
    )
    kept: list[int] = []

    def collect(data, rank: int = 0, world_size: int = 1):
        for doc in data:
            kept.append(int(doc.id))
        return iter(())

    stages = [
        (
            "signature",
            LocalPipelineExecutor(
                [
                    docs,
                    MinhashDedupSignature(
                        output_folder=str(sigs), config=cfg, language=SplitTokenizer()
                    ),
                ],
                tasks=1,
                workers=1,
                logging_dir=str(logs / "s1"),
            ),
        ),
        (
            "buckets",
            LocalPipelineExecutor(  # the step asserts world_size % num_buckets == 0
                [
                    MinhashDedupBuckets(
                        input_folder=str(sigs), output_folder=str(buckets), config=cfg
                    )
                ],
                tasks=cfg.num_buckets,
                workers=1,
                logging_dir=str(logs / "s2"),
            ),
        ),
        (
            "cluster",
            LocalPipelineExecutor(
                [
                    MinhashDedupCluster(
                        input_folder=str(buckets),
                        output_folder=str(clusters),
                        config=cfg,
                        save_cluster_id=True,
                    )
                ],
                tasks=1,
                workers=1,
                logging_dir=str(logs / "s3"),
            ),
        ),
        (
            "filter",
            LocalPipelineExecutor(
                [docs, MinhashDedupFilter(input_folder=str(clusters)), collect],
                tasks=1,
                workers=1,
                logging_dir=str(logs / "s4"),
            ),
        ),
    ]
    timings, cpu_timings = {}, {}
    for name, executor in stages:
        t0, c0 = time.perf_counter(), time.process_time()
        executor.run()
        timings[name] = time.perf_counter() - t0
        cpu_timings[name] = time.process_time() - c0

    # cluster ids (outside timing): .clusters holds (doc, cluster) uint32 pairs of multi-doc clusters
    n = len(texts)
    raw = [-1] * n
    cfile = clusters / "000000.clusters"
    if cfile.exists():
        for doc, cl in struct.iter_unpack("<II", cfile.read_bytes()):
            raw[doc] = cl
    first: dict[int, int] = {}
    for i, c in enumerate(raw):
        if c >= 0:
            first.setdefault(c, i)
    cluster_id = [first[c] if c >= 0 else i for i, c in enumerate(raw)]
    keep = [False] * n
    for i in kept:
        keep[i] = True
    result_path.write_text(
        json.dumps(
            {
                "timings_s": timings,
                "cpu_timings_s": cpu_timings,
                "cluster_id": cluster_id,
                "keep": keep,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                / 1024,
                "env": {
                    "python": sys.executable,
                    "python_version": platform.python_version(),
                    "datatrove": version("datatrove"),
                    "numpy": numpy.__version__,
                    "xxhash": xxhash.VERSION,
                    "affinity": sorted(os.sched_getaffinity(0)),
                    "config": f"MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8, seed={seed}, "
                    "hash_config=xxhash64 precision 64, default TextNormConfig), str.split tokenizer",
                },
            }
        )
    )


if __name__ == "__main__":
    main()
