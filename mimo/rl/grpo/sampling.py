"""Which prompts a GRPO step trains on: dynamic sampling and easy-data resampling (MiMo §3.3).

* **Dynamic sampling**: a group whose rollouts all pass or all fail has zero advantage everywhere
  and no gradient; such groups are dropped and sampling continues until the batch is full.
* **Easy-data resampling**: a problem whose group reaches pass rate 1 moves from the main pool to
  an easy pool; each draw takes from the easy pool with probability ``easy_pool_probability``
  (MiMo: 10%), otherwise from the main pool. MiMo found this steadier late in training than removing
  easy problems.

:class:`ProblemSampler` is deterministic for a seed and its state (pools, cursor, RNG) round-trips
through ``state_dict`` for resume.
"""

from __future__ import annotations

import random
from collections.abc import Sequence


def is_informative(rewards: Sequence[float], tol: float = 1e-9) -> bool:
    """True when the group's rewards are not all equal (non-zero advantages exist)."""
    return len(rewards) > 1 and max(rewards) - min(rewards) > tol


def group_pass_rate(rewards: Sequence[float], threshold: float = 1.0) -> float:
    """Fraction of rollouts with reward >= ``threshold`` (a full pass)."""
    return sum(r >= threshold for r in rewards) / max(len(rewards), 1)


class ProblemSampler:
    """Draws problem ids from a main pool and an easy pool (with replacement across epochs of the
    main pool: it is reshuffled each time it is exhausted)."""

    def __init__(self, problem_ids: Sequence[str], *, easy_pool_probability: float = 0.1, seed: int = 0):
        if not problem_ids:
            raise ValueError("no RL problems to sample from (the problem set is empty)")
        if len(set(problem_ids)) != len(problem_ids):
            raise ValueError("problem ids must be unique")
        if not 0.0 <= easy_pool_probability <= 1.0:
            raise ValueError(f"easy_pool_probability must be in [0, 1], got {easy_pool_probability}")
        self.easy_pool_probability = easy_pool_probability
        self.main: list[str] = list(problem_ids)
        self._in_main: set[str] = set(self.main)
        self.easy: list[str] = []
        self.rng = random.Random(seed)
        self.order: list[str] = []
        self.cursor = 0
        self.epoch = 0
        self._reshuffle()

    def _reshuffle(self) -> None:
        self.order = list(self.main)
        self.rng.shuffle(self.order)
        self.cursor = 0

    def draw(self) -> str:
        """The next problem id (easy pool with the configured probability when it is not empty)."""
        if self.easy and (not self.main or self.rng.random() < self.easy_pool_probability):
            return self.rng.choice(self.easy)
        if not self.main:
            raise ValueError("the main pool is empty and the easy pool too")
        while True:
            if self.cursor >= len(self.order):
                self.epoch += 1
                self._reshuffle()
            pid = self.order[self.cursor]
            self.cursor += 1
            if pid in self._in_main:  # skip problems that moved to the easy pool since the shuffle
                return pid

    def record(self, problem_id: str, rewards: Sequence[float]) -> None:
        """After scoring a group: a problem that reached pass rate 1 moves to the easy pool (and one
        from the easy pool that failed a rollout moves back)."""
        solved = group_pass_rate(rewards) >= 1.0
        if solved and problem_id in self._in_main:
            self.main.remove(problem_id)
            self._in_main.discard(problem_id)
            self.easy.append(problem_id)
        elif not solved and problem_id in self.easy:
            self.easy.remove(problem_id)
            self.main.append(problem_id)
            self._in_main.add(problem_id)

    def state_dict(self) -> dict:
        return {"main": list(self.main), "easy": list(self.easy), "order": list(self.order), "cursor": self.cursor,
                "epoch": self.epoch, "rng": self.rng.getstate(), "easy_pool_probability": self.easy_pool_probability}

    def load_state_dict(self, state: dict) -> None:
        self.main, self.easy, self.order = list(state["main"]), list(state["easy"]), list(state["order"])
        self._in_main = set(self.main)
        self.cursor, self.epoch = int(state["cursor"]), int(state["epoch"])
        rng = state["rng"]
        self.rng.setstate((rng[0], tuple(rng[1]), rng[2]))
        self.easy_pool_probability = float(state["easy_pool_probability"])
