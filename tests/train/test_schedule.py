"""Schedules follow MiMo's token-based shapes."""

import pytest

from mimo.train.schedule import BatchWarmup, LRSchedule, Segment, StepSchedule

MIMO_LR = LRSchedule(start_lr=0.0, segments=[
    Segment(tokens=84, kind="linear", end_lr=1.07e-4), Segment(tokens=10_200, kind="constant"),
    Segment(tokens=7_500, kind="cosine", end_lr=3e-5), Segment(tokens=5_500, kind="constant"),
    Segment(tokens=500, kind="cosine", end_lr=1e-5)])  # in billions of tokens


def test_lr_shape():
    assert MIMO_LR.lr_at(0) == 0 and MIMO_LR.lr_at(42) == pytest.approx(1.07e-4 / 2)
    assert MIMO_LR.lr_at(5_000) == pytest.approx(1.07e-4)
    assert MIMO_LR.lr_at(84 + 10_200 + 3_750) == pytest.approx((1.07e-4 + 3e-5) / 2)
    assert MIMO_LR.lr_at(84 + 10_200 + 7_500 + 100) == pytest.approx(3e-5)
    assert MIMO_LR.lr_at(MIMO_LR.total_tokens) == pytest.approx(1e-5) == MIMO_LR.lr_at(10**9)
    assert MIMO_LR.total_tokens == 23_784


def test_batch_warmup_and_mtp_weight():
    bw = BatchWarmup(start=64, end=2560, warmup_tokens=168)
    assert bw.batch_at(0) == 64 and bw.batch_at(84, multiple_of=8) == 1312 and bw.batch_at(500) == 2560
    lam = StepSchedule(points=[(0, 0.3), (10_300, 0.1)])
    assert lam.value_at(0) == 0.3 and lam.value_at(10_299) == 0.3 and lam.value_at(10_300) == 0.1


def test_unknown_field_is_rejected():
    with pytest.raises(ValueError, match="extra"):
        Segment(tokens=1, kind="linear", end_lr=1.0, typo=3)
