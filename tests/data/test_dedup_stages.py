"""Global MinHash dedup in stages on the data engine: the same clusters as the in-memory pass."""

import json
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mimo.data.dedup import MinHashConfig, minhash_dedup
from mimo.data.dedup.stages import multistage_minhash
from mimo.data.dedup.stages.buckets import key_range
from mimo.data.dedup.stages.layout import band_dir
from mimo.data.engine import EngineConfig, StageFailed

WORDS = [f"w{i}" for i in range(3000)]


def _corpus(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    texts: list[str] = []
    for i in range(n):
        if i > 20 and rng.random() < 0.25:  # a near copy of an earlier text, often in another shard
            words = texts[rng.randrange(i)].split() or ["x"]
            words[rng.randrange(len(words))] = "edited"
            texts.append(" ".join(words))
        elif i % 97 == 5:
            texts.append("")  # empty: never a duplicate, always kept
        elif i % 89 == 7:
            texts.append("three short words")  # shorter than a shingle: one shingle of all its words
        else:
            texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))))
    return texts


def _shards(tmp_path, texts: list[str], size: int) -> list[str]:
    paths = []
    for s, lo in enumerate(range(0, len(texts), size)):
        path = tmp_path / f"shard-{s}.parquet"
        pq.write_table(pa.table({"text": texts[lo:lo + size]}), path)
        paths.append(str(path))
    return paths


def _as_global(result, size: int) -> set[tuple[int, int]]:
    return {(s * size + int(i), int(root >> 32) * size + int(root & 0xFFFFFFFF))
            for s, removed in enumerate(result.removed) for i, root in removed}


@pytest.mark.parametrize("max_bucket_records", [10_000_000, 300])
def test_stages_remove_exactly_what_the_in_memory_pass_removes(tmp_path, max_bucket_records):
    texts, size = _corpus(1200), 400
    res = multistage_minhash(_shards(tmp_path, texts, size), tmp_path / "work", MinHashConfig(),
                             EngineConfig(workers=2), max_bucket_records=max_bucket_records)
    ref = minhash_dedup(texts)
    expected = {(int(i), int(ref.cluster_id[i])) for i in np.flatnonzero(~ref.keep)}
    assert _as_global(res, size) == expected and res.n_removed == ref.n_removed > 200
    assert res.documents == 1200 and res.parts == (1 if max_bucket_records > 10**6 else 4)
    assert [s.name for s in res.stages] == ["signatures", "buckets", "clusters", "filter"]
    assert res.stages[1].tasks == 14 * res.parts
    assert res.clusters["removed"] == ref.n_removed
    assert any(((r[:, 1] >> 32) < s).any() for s, r in enumerate(res.removed) if len(r))  # kept in earlier shards


def test_key_ranges_cover_every_key_once():
    for parts in (1, 3, 7):
        ranges = [key_range(p, parts) for p in range(parts)]
        assert ranges[0][0] == 0 and ranges[-1][1] is None
        assert all(ranges[i][1] == ranges[i + 1][0] for i in range(parts - 1))


def test_a_rerun_reuses_completed_stages_and_ignores_a_killed_tasks_leftovers(tmp_path):
    texts, size = _corpus(600, seed=1), 300
    shards = _shards(tmp_path, texts, size)
    first = multistage_minhash(shards, tmp_path / "work", engine=EngineConfig(workers=2))
    leftover = band_dir(tmp_path / "work", 1).with_name("s000001.tmp12345")  # what a killed task leaves
    leftover.mkdir()
    (leftover / "b000.keys.npy").write_bytes(b"garbage")
    again = multistage_minhash(shards, tmp_path / "work", engine=EngineConfig(workers=2))
    assert _as_global(again, size) == _as_global(first, size)
    assert json.loads((tmp_path / "work" / "clusters.json").read_text())["removed"] == first.n_removed


def test_an_unreadable_shard_fails_its_task_by_name_and_the_other_shards_complete(tmp_path):
    texts, size = _corpus(600, seed=2), 200
    shards = _shards(tmp_path, texts, size)
    good = open(shards[1], "rb").read()
    open(shards[1], "wb").write(b"not parquet")
    with pytest.raises(StageFailed) as err:
        multistage_minhash(shards, tmp_path / "work", engine=EngineConfig(workers=2, retries=0))
    assert [f.rank for f in err.value.failures] == [1] and "signatures" in str(err.value)
    assert "Parquet" in str(err.value) or "parquet" in str(err.value)
    done = sorted(p.name for p in (tmp_path / "work" / "logs" / "signatures" / "completions").iterdir())
    assert done == ["00000", "00002"]
    open(shards[1], "wb").write(good)
    res = multistage_minhash(shards, tmp_path / "work", engine=EngineConfig(workers=2))
    ref = minhash_dedup(texts)
    assert res.n_removed == ref.n_removed
