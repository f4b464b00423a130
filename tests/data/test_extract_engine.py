"""Extraction as data-engine tasks: the same outcomes, in file order, as the in-process pool."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq

from mimo.data.engine import EngineConfig
from mimo.data.extract.config import ExtractConfig
from mimo.data.extract.engine_steps import extract_on_engine


def _records(shared_dir, n: int) -> list[dict]:
    root = shared_dir / "benchmarks" / "article_extraction"
    truth = json.loads((root / "ground-truth.json").read_text())
    rows = [{"payload": gzip.decompress((root / "html" / f"{sha}.html.gz").read_bytes()),
             "url": truth[sha].get("url") or f"https://example.org/{sha}", "http_charset": None}
            for sha in sorted(truth)[:n]]
    rows.append({"payload": b"", "url": "https://example.org/empty", "http_charset": None})  # a counted skip
    rows.append({"payload": "<html><body><p>caf\xe9 " .encode("latin-1") * 50, "url": "https://example.org/latin",
                 "http_charset": "iso-8859-1"})
    return rows


def test_engine_tasks_give_the_in_process_outcomes(tmp_path, shared_dir):
    from assets.extraction import _extract_all

    rows = _records(shared_dir, 9)
    path = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    cfg = ExtractConfig(page_types=True)

    class Log:
        def info(self, *_):
            pass

    local = _extract_all(rows, cfg, 1, Log(), 1000)
    engine = extract_on_engine(str(path), tmp_path / "work", cfg, tasks=3, engine=EngineConfig(workers=2))
    key = lambda o: (o.text, o.skip_reason, o.title, o.language, o.n_formulas, o.n_code_blocks, o.page_type, o.quality)
    assert [key(o) for o in engine] == [key(o) for o in local]
    assert engine[-2].skip_reason is not None and engine[0].text
