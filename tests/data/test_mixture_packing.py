"""Stage mixtures hit their target shares; packing keeps document boundaries; the reader resumes."""

import numpy as np
import pytest

from mimo.data.mixture import MixtureDoc, MixtureSpec, build_mixture
from mimo.data.packing import PackedDataset, labels_from, pack_documents, segment_ids


def _docs():
    docs = [MixtureDoc(f"m{i}", "math", 100) for i in range(5)]
    docs += [MixtureDoc(f"g{i}", "general", 200, weight=0.5 if i % 2 else 2.0) for i in range(20)]
    docs += [MixtureDoc("g-zero", "general", 300, weight=0.0)]
    return docs


def test_mixture_realizes_target_shares_and_reports_repeats():
    res = build_mixture(_docs(), MixtureSpec(shares={"math": 0.7, "general": 0.3}, total_tokens=10_000, seed=1))
    shares = res.realized_shares
    assert abs(shares["math"] - 0.7) < 0.02 and abs(shares["general"] - 0.3) < 0.02
    assert res.epochs_by_source["math"] == pytest.approx(7000 / 500, rel=0.02)  # small pool, repeated
    assert "g-zero" not in res.doc_ids
    assert res.doc_ids == build_mixture(_docs(), MixtureSpec(shares={"math": 0.7, "general": 0.3},
                                                             total_tokens=10_000, seed=1)).doc_ids


def test_mixture_missing_source_is_reported_and_share_redistributed():
    res = build_mixture(_docs(), MixtureSpec(shares={"math": 0.5, "general": 0.4, "synthetic": 0.1}, total_tokens=5000))
    assert res.missing_sources == ["synthetic"]
    assert sum(res.tokens_by_source.values()) >= 5000 * 0.98


def test_bad_shares_are_a_clear_error():
    with pytest.raises(ValueError, match="sum to 1"):
        MixtureSpec(shares={"math": 0.5, "general": 0.6}, total_tokens=10)


def test_packing_positions_reset_at_documents_and_rows(tmp_path):
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10, 11]]  # + eos(0) each -> 14 tokens
    stats = pack_documents(docs, seq_len=4, eos_id=0, out_dir=tmp_path)
    assert (stats.rows, stats.dropped_tail_tokens, stats.documents) == (3, 2, 3)
    tok = np.load(tmp_path / "tokens.npy", mmap_mode="r")
    pos = np.load(tmp_path / "positions.npy", mmap_mode="r")
    assert tok.tolist() == [[1, 2, 3, 0], [4, 5, 0, 6], [7, 8, 9, 10]]
    assert pos.tolist() == [[0, 1, 2, 3], [0, 1, 2, 0], [0, 1, 2, 3]]
    assert segment_ids(np.asarray(pos)).tolist() == [[1, 1, 1, 1], [1, 1, 1, 2], [1, 1, 1, 1]]
    lab = labels_from(np.asarray(tok), np.asarray(pos))
    assert lab.tolist() == [[2, 3, 0, -100], [5, 0, -100, -100], [8, 9, 10, -100]]
    mtp = labels_from(np.asarray(tok), np.asarray(pos), offset=2)
    assert mtp.tolist() == [[3, 0, -100, -100], [0, -100, -100, -100], [9, 10, -100, -100]]


def test_reader_resumes_exactly_and_rejects_corrupt_shards(tmp_path):
    pack_documents([[i] * 7 for i in range(1, 30)], seq_len=8, eos_id=0, out_dir=tmp_path / "a")
    full = PackedDataset([tmp_path / "a"], seed=3)
    expected = [full.next_batch(4)[0].tolist() for _ in range(12)]  # crosses epochs
    part = PackedDataset([tmp_path / "a"], seed=3)
    got = [part.next_batch(4)[0].tolist() for _ in range(5)]
    state = part.state_dict()
    resumed = PackedDataset([tmp_path / "a"], seed=0)
    resumed.load_state_dict(state)
    got += [resumed.next_batch(4)[0].tolist() for _ in range(7)]
    assert got == expected
    (tmp_path / "a/tokens.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="missing or corrupt"):
        PackedDataset([tmp_path / "a"])
