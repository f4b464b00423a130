"""Row slices and parts: every row read once, parts concatenated in order, never a partial part."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mimo.data.engine.slices import ParquetRowSlices, part_path, read_parts, task_slice, write_part


def test_slices_cover_every_row_once():
    for n, w in ((10, 3), (2, 5), (0, 2), (7, 1)):
        spans = [task_slice(n, r, w) for r in range(w)]
        assert spans[0][0] == 0 and spans[-1][1] == n and all(spans[i][1] == spans[i + 1][0] for i in range(w - 1))


def test_reader_yields_each_rows_columns_with_its_index(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(23)], "other": list(range(23))}), path, row_group_size=5)
    seen = []
    for rank in range(4):
        reader = ParquetRowSlices(str(path), ["text"], batch_rows=3)
        seen += [(d.metadata["index"], d.metadata["text"]) for d in reader.run(rank=rank, world_size=4)]
    assert seen == [(i, f"t{i}") for i in range(23)]
    assert "other" not in next(iter(ParquetRowSlices(str(path), ["text"]).run())).metadata


def test_parts_concatenate_in_rank_order_and_a_missing_part_is_an_error(tmp_path):
    for rank in (2, 0, 1):
        write_part(tmp_path, rank, pa.table({"index": [rank]}))
    assert read_parts(tmp_path, 3)["index"].to_pylist() == [0, 1, 2]
    assert not list(tmp_path.glob("*.tmp*"))
    part_path(tmp_path, 1).unlink()
    (tmp_path / "part-00001.parquet.tmp123").write_bytes(b"partial")  # a killed task's leftover
    with pytest.raises(FileNotFoundError, match="part-00001"):
        read_parts(tmp_path, 3)


def test_interleaved_slices_cover_every_row_once_and_sort_back(tmp_path):
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(11)]}), path)
    for rank in range(3):
        docs = list(ParquetRowSlices(str(path), ["text"], batch_rows=4, interleaved=True).run(rank=rank, world_size=3))
        assert [d.metadata["index"] for d in docs] == list(range(rank, 11, 3))
        write_part(tmp_path / "parts", rank, pa.table({"index": [d.metadata["index"] for d in docs]}))
    assert read_parts(tmp_path / "parts", 3, order_by="index")["index"].to_pylist() == list(range(11))
