"""Benchmark decontamination as data-engine tasks finds the hits of the in-process check."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from mimo.data.decontam import ContaminationIndex, load_benchmark_texts
from mimo.data.decontam_steps import hits_on_engine
from mimo.data.engine import EngineConfig
from tests.data.test_tagging import CODE, MATH, NEWS


def test_engine_tasks_find_the_in_process_hits(tmp_path, shared_dir):
    bench = load_benchmark_texts(shared_dir)
    docs = [NEWS, "Homework help! " + bench["math500"][7] + " Answer below.", MATH, "",
            CODE + bench["humaneval"][3], "forum: " + bench["aime24"][0]]
    pq.write_table(pa.table({"text": docs}), tmp_path / "docs.parquet")
    hits = hits_on_engine(str(tmp_path / "docs.parquet"), bench, tmp_path / "work", tasks=4,
                          engine=EngineConfig(workers=2))
    assert hits == ContaminationIndex.build(bench).contaminated(docs)
    assert [bool(h) for h in hits] == [False, True, False, False, True, True]
    assert any(h.startswith("math500:7") for h in hits[1]) and any(h.startswith("aime24:") for h in hits[5])
