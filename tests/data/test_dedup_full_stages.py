"""The whole dedup on the engine (URL, exact, MinHash, writer) gives the in-memory passes' removals."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mimo.data.dedup.passes import dedup_passes
from mimo.data.dedup.stages.full import full_dedup
from mimo.data.dedup.stages.keys import document_key, first_of_groups
from mimo.data.engine import EngineConfig
from tests.data.test_dedup_stages import _corpus


def _rows(n: int, seed: int) -> list[dict]:
    """Documents with planted URL copies (another text), exact copies (other whitespace, another
    URL), near copies, and a document that is both a URL copy and an exact copy of different ones."""
    rng = random.Random(seed)
    texts = _corpus(n, seed=seed)
    rows = [{"url": f"https://site{i % 7}.example/p{i}", "text": t, "extra": i} for i, t in enumerate(texts)]
    for j in range(0, n, 9):
        src = rows[rng.randrange(len(rows))]
        rows.append({"url": src["url"].upper().replace("HTTPS", "https") + "#frag", "text": f"other text {j}", "extra": -j})
        src = rows[rng.randrange(len(rows))]
        rows.append({"url": f"https://mirror.example/{j}", "text": "  " + src["text"].replace(" ", "\n "), "extra": -j})
    rows.append({"url": rows[3]["url"], "text": rows[5]["text"], "extra": -1})
    return rows


def test_first_of_groups_keeps_the_lowest_id():
    hi = np.array([5, 1, 5, 5, 1], dtype=np.uint64)
    lo = np.array([2, 9, 2, 3, 9], dtype=np.uint64)
    ids = np.array([40, 30, 10, 20, 50], dtype=np.int64)
    removed, kept = first_of_groups(hi, lo, ids)
    assert removed.tolist() == [40, 50] and kept.tolist() == [10, 30]
    assert document_key("url", "https://A.example/x#y") == document_key("url", "https://a.example/x")
    assert document_key("exact", "a  b\n") == document_key("exact", "a b")


def test_the_stages_give_the_in_memory_passes(tmp_path):
    rows = _rows(450, seed=4)
    size = 160
    shards = []
    for s in range(0, len(rows), size):
        path = tmp_path / f"shard-{s // size}.parquet"
        pq.write_table(pa.Table.from_pylist(rows[s:s + size]), path)
        shards.append(str(path))
    removals, _ = dedup_passes([r["url"] for r in rows], [r["text"] for r in rows])
    expected = {(r.index, r.stage, r.kept) for r in removals}
    assert {s for _, s, _ in expected} == {"url", "exact", "minhash"}
    res = full_dedup(shards, tmp_path / "work", engine=EngineConfig(workers=2), max_keys=200, max_bucket_records=500)
    got = set()
    for s, path in enumerate(res.removals):
        for r in pq.read_table(path).to_pylist():
            kept = (r["kept_id"] >> 32) * size + (r["kept_id"] & 0xFFFFFFFF)
            got.add((s * size + r["row"], r["stage"], kept))
    assert got == expected
    kept_rows = pa.concat_tables([pq.read_table(p) for p in res.kept]).to_pylist()
    gone = {i for i, _, _ in expected}
    assert kept_rows == [r for i, r in enumerate(rows) if i not in gone]  # every column, in order
    names = [s.name for s in res.stages]
    assert names[:4] == ["url keys", "url find", "exact keys", "exact find"] and names[-1] == "write"
    assert not list((tmp_path / "work").rglob("*.tmp*"))
