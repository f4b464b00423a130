"""Classifier tagging as data-engine tasks gives the columns of tagging in one process."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mimo.data.engine import EngineConfig
from mimo.data.tagging.annotator import annotate
from mimo.data.tagging.classifier import TaggerModel, TaggerModelConfig
from mimo.data.tagging.columns import tag_columns, tag_schema
from mimo.data.tagging.engine_steps import tag_on_engine
from mimo.data.tagging.tagger import ClassifierTagger
from tests.data.test_tagging import CODE, MATH, NEWS


def test_engine_tasks_give_the_in_process_tag_columns(tmp_path):
    texts = [MATH + f" case {i}" for i in range(12)] + [CODE + f" case {i}" for i in range(12)] + [NEWS + f" day {i}" for i in range(12)]
    model = TaggerModel(TaggerModelConfig(epochs=10, holdout_fraction=0.0))
    model.fit(texts, [annotate(t) for t in texts])
    (tmp_path / "model").mkdir()
    model.save(str(tmp_path / "model"))
    docs = texts[::-1] + ["", "short"]  # an empty and a one-word document are tagged too, never dropped
    pq.write_table(pa.table({"text": docs, "url": [f"u{i}" for i in range(len(docs))]}), tmp_path / "pages.parquet")
    local = tag_columns(docs, ClassifierTagger(TaggerModel.load(str(tmp_path / "model"))).tag(docs))
    engine = tag_on_engine(str(tmp_path / "pages.parquet"), str(tmp_path / "model"), tmp_path / "work", tasks=3,
                           engine=EngineConfig(workers=2))
    assert list(engine) == tag_schema().names == list(local)
    for name in local:
        if name == "domain" or name.startswith("heuristic_") or name == "n_words":
            assert engine[name] == local[name], name
        else:
            assert engine[name] == pytest.approx(local[name], abs=2e-3), name
    assert engine["domain"][:3] == ["general"] * 3 and engine["n_words"][-2:] == [0, 1]
    assert engine["heuristic_gopher"][-1] is not None  # a one-word page fails Gopher's word count
