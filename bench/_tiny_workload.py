"""The rollout bench's mixed pool (``bench_rollout.py --generator tiny --pool mixed``).

A hand-made pool for a tiny model that has not learned the curriculum (``--pool curated`` uses a
run's curated RL problems instead). With such a model:

* a **math** group is valid only when a guess happens to match: toy problems with a one-digit
  answer are often valid at G = 8, problems with larger answers almost never;
* a **code** group is rarely valid: every sample is judged for real (extracted program run in the
  bubblewrap sandbox, rejected at compile time, or no program at all);
* the pool mixes ``n_small`` one-digit math problems, ``n_large`` other math problems and
  ``n_code`` toy code tasks (uncurated: the all-fail groups are what dynamic sampling drops).
"""

from __future__ import annotations

import random
from typing import Any


def bench_problems(n_small: int = 16, n_large: int = 8, n_code: int = 8, seed: int = 0) -> list[Any]:
    """The shuffled problem pool (deterministic for ``seed``)."""
    from mimo.problems.toy import generate_toy_problems

    pool = generate_toy_problems(6 * (n_small + n_large), n_code, seed=seed + 11)
    math = [p for p in pool if p.domain == "math"]
    small = [p for p in math if len(p.answer) == 1][:n_small]
    large = [p for p in math if len(p.answer) > 1][:n_large]
    if len(small) < n_small or len(large) < n_large:
        raise ValueError("not enough toy math problems of each kind; lower n_small / n_large")
    out = small + large + [p for p in pool if p.domain == "code"]
    random.Random(seed).shuffle(out)
    return out
