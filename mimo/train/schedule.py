"""Token-based schedules: learning rate, batch-size warm-up and the MTP loss weight.

All schedules are functions of the *global* number of tokens consumed across the three
pretraining stages, as in MiMo (LR warm-up, constant, cosine to 3e-5 in stage 1, constant through
stage 2 and most of stage 3, cosine to 1e-5 at the end; batch warm-up; lambda 0.3 then 0.1).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Segment(BaseModel):
    """One piece of the LR curve: ``kind`` from the previous value to ``end_lr`` over ``tokens``."""

    model_config = ConfigDict(extra="forbid")
    tokens: int = Field(gt=0)
    kind: Literal["linear", "constant", "cosine"]
    end_lr: float | None = None  # constant: ignored (keeps the previous value)


class LRSchedule(BaseModel):
    """Piecewise token-based learning rate; after the last segment it stays at the final value."""

    model_config = ConfigDict(extra="forbid")
    start_lr: float = 0.0
    segments: list[Segment]

    def lr_at(self, tokens: int) -> float:
        lr, offset = self.start_lr, 0
        for seg in self.segments:
            end = lr if seg.kind == "constant" or seg.end_lr is None else seg.end_lr
            if tokens < offset + seg.tokens:
                frac = (tokens - offset) / seg.tokens
                if seg.kind == "linear":
                    return lr + (end - lr) * frac
                if seg.kind == "cosine":
                    return end + (lr - end) * 0.5 * (1 + math.cos(math.pi * frac))
                return lr
            lr, offset = end, offset + seg.tokens
        return lr

    @property
    def total_tokens(self) -> int:
        return sum(s.tokens for s in self.segments)


class BatchWarmup(BaseModel):
    """Global batch size in sequences: linear from ``start`` to ``end`` over ``warmup_tokens``."""

    model_config = ConfigDict(extra="forbid")
    start: int = Field(ge=1)
    end: int = Field(ge=1)
    warmup_tokens: int = Field(ge=0)

    def batch_at(self, tokens: int, multiple_of: int = 1) -> int:
        if self.warmup_tokens == 0 or tokens >= self.warmup_tokens:
            size = self.end
        else:
            size = self.start + (self.end - self.start) * tokens / self.warmup_tokens
        return max(multiple_of, int(round(size / multiple_of)) * multiple_of)


class StepSchedule(BaseModel):
    """A value that changes at token thresholds, e.g. the MTP weight ``[[0, 0.3], [10.3e12, 0.1]]``."""

    model_config = ConfigDict(extra="forbid")
    points: list[tuple[int, float]]

    def value_at(self, tokens: int) -> float:
        value = self.points[0][1]
        for start, v in self.points:
            if tokens >= start:
                value = v
        return value
