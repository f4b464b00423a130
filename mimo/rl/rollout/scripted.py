"""A scripted generator and reward for tests and benchmarks (no model; labelled as such).

:class:`ScriptedGenerator` is a real :class:`~mimo.generate.base.BatchGenerator`: each prompt has a
script (per-sample texts and a decode time); a ``generate_batch`` call sleeps for the longest
script in the batch (a batched decoder ends with its longest sample) and returns the texts.
:class:`ScriptedReward` scores ``PASS...`` texts 1 and anything else 0, optionally sleeping,
crashing or hanging in the worker process (from the task payload).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mimo.generate.base import BatchGenerator, Completion, GenerationRequest, GenerationResult, ProgressFn
from mimo.rl.rollout.rewards import RewardFn, Score
from mimo.rl.rollout.types import RolloutTask


@dataclass(frozen=True)
class PromptScript:
    """What the generator returns for one prompt: ``texts`` (cycled to ``n``) after ``delay_s``."""

    texts: tuple[str, ...]
    delay_s: float = 0.0
    tokens: int = 16


class ScriptedGenerator(BatchGenerator):
    """Returns scripted samples keyed by the last message's content (see the module docstring)."""

    backend = "scripted"
    is_model = False

    def __init__(self, scripts: Mapping[str, PromptScript], lock: bool = False) -> None:
        super().__init__("scripted")
        self.scripts = dict(scripts)
        self.calls: list[tuple[float, float, list[str]]] = []  # (start, end, prompt keys)
        self._lock = threading.Lock() if lock else None

    def add(self, key: str, script: PromptScript) -> None:
        """Add or replace the script of one prompt."""
        self.scripts[key] = script

    def generate_batch(self, requests: Sequence[GenerationRequest],
                       progress: ProgressFn | None = None) -> list[GenerationResult]:
        if self._lock:
            with self._lock:
                return self._generate(requests, progress)
        return self._generate(requests, progress)

    def _generate(self, requests: Sequence[GenerationRequest], progress: ProgressFn | None) -> list[GenerationResult]:
        start = time.perf_counter()
        keys = [r.messages[-1]["content"] for r in requests]
        scripts = [self.scripts.get(k) for k in keys]
        time.sleep(max([s.delay_s for s in scripts if s is not None], default=0.0))
        out = []
        for req, s in zip(requests, scripts):
            if s is None:
                out.append(GenerationResult(req.request_id, [], "KeyError: no script for this prompt"))
            else:
                texts = [s.texts[i % len(s.texts)] for i in range(req.params.n)]
                out.append(GenerationResult(req.request_id, [Completion(t, "stop", s.tokens) for t in texts]))
            if progress:
                progress(1)
        self.calls.append((start, time.perf_counter(), keys))
        return out


def scripted_task(key: str, n: int, passes: int, delay_s: float = 0.0, *, tokens: int = 16,
                  reward_s: float = 0.0, crash: bool = False, hang: bool = False,
                  ) -> tuple[RolloutTask, PromptScript]:
    """A task whose ``n`` samples hold ``passes`` passing texts, and its script."""
    texts = tuple(f"PASS {key} {i}" if i < passes else f"FAIL {key} {i}" for i in range(n))
    payload: dict[str, Any] = {"reward_s": reward_s, "crash": crash, "hang": hang}
    task = RolloutTask(key, [{"role": "user", "content": key}], "scripted", payload, n)
    return task, PromptScript(texts, delay_s, tokens)


class ScriptedReward(RewardFn):
    """1.0 for texts starting with ``PASS``; payload ``reward_s`` (sleep), ``crash``, ``hang``."""

    def score(self, domain: str, payload: dict[str, Any], responses: Sequence[str]) -> list[Score]:
        if payload.get("crash"):
            os._exit(3)
        if payload.get("hang"):
            while True:
                time.sleep(3600)
        time.sleep(float(payload.get("reward_s", 0.0)))
        return [(1.0, "correct") if r.startswith("PASS") else (0.0, "wrong") for r in responses]


class ParityReward(RewardFn):
    """1.0 when a response has an even number of characters: a coin flip for a random model, so
    its groups become valid (tests of the engine on a real but untrained model)."""

    def score(self, domain: str, payload: dict[str, Any], responses: Sequence[str]) -> list[Score]:
        return [(1.0, "correct") if len(r) % 2 == 0 else (0.0, "wrong") for r in responses]
