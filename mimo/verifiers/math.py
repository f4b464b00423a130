"""The math reward: Math-Verify on the final answer, in worker processes with a hard deadline.

Status of an item:

* ``correct`` (reward 1) / ``wrong``: the response's answer does / does not match the gold answer;
* ``no_answer``: nothing parseable in the graded text (empty, binary, reasoning cut off before
  ``</think>``, ...);
* ``timeout``: Math-Verify's own timeout fired, or the item passed its wall-clock deadline (its
  worker is then killed and replaced, so no input can hang a batch);
* ``error``: not the response's fault (a worker died, the gold answer does not parse, the item is
  malformed). Reward 0, but reported, never passed off as a wrong answer.

Only the text after the last ``</think>`` is graded, and only its last ``MAX_ANSWER_CHARS``
characters (the answer sits at the end; this bounds the cost of megabyte inputs).
"""

from __future__ import annotations

import atexit
import os
import resource
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mimo.verifiers.answer import final_text
from mimo.verifiers.deadline_pool import OK, TIMEOUT, DeadlinePool

MATH_STATUSES = ("correct", "wrong", "no_answer", "timeout", "error")
MAX_ANSWER_CHARS = 32768
DEFAULT_TIMEOUT_S = 10.0
PARSE_TIMEOUT_S = 3
VERIFY_TIMEOUT_S = 3
WORKER_MEMORY_BYTES = 4 << 30


@dataclass
class MathScore:
    """The reward of one response."""

    id: Any
    reward: float
    status: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The CLI's output line (``detail`` only when there is something to say)."""
        d = {"id": self.id, "reward": self.reward, "status": self.status}
        if self.detail:
            d["detail"] = self.detail
        return d


def gold_text(answer: str) -> str:
    """The gold answer as Math-Verify should read it: boxed, unless it already carries LaTeX delimiters."""
    answer = answer.strip()
    if "\\boxed" in answer or answer.startswith(("$", "\\(")):
        return answer
    return f"\\boxed{{{answer}}}"


@lru_cache(maxsize=4096)
def _parse_gold(answer: str) -> tuple:
    from math_verify import parse

    return tuple(parse(gold_text(answer), parsing_timeout=PARSE_TIMEOUT_S))


def verify_response(payload: tuple[str, str]) -> tuple[str, str]:
    """``(status, detail)`` of one ``(response, gold answer)`` pair; runs in a worker process."""
    from math_verify import parse, verify
    from math_verify.errors import TimeoutException

    response, answer = payload
    text = final_text(response)
    if text is None:
        return "no_answer", "reasoning not finished (no </think>)"
    text = text[-MAX_ANSWER_CHARS:]
    try:
        gold = _parse_gold(answer)
    except TimeoutException:
        return "error", "gold answer parse timed out"
    if not gold:
        return "error", "gold answer does not parse"
    if not text.strip():
        return "no_answer", ""
    try:
        pred = parse(text, parsing_timeout=PARSE_TIMEOUT_S, raise_on_error=True)
    except TimeoutException:
        return "timeout", "parse"
    except Exception:  # noqa: BLE001 - unparseable text is the response's problem
        return "no_answer", "parse failed"
    if not pred:
        return "no_answer", ""
    timed_out = False
    for g in gold:
        for p in pred:
            try:
                if verify(g, p, timeout_seconds=VERIFY_TIMEOUT_S, raise_on_error=True):
                    return "correct", ""
            except TimeoutException:
                timed_out = True
            except Exception:  # noqa: BLE001 - a failed comparison is not a match
                pass
    return ("timeout", "verify") if timed_out else ("wrong", "")


def _init_worker() -> None:
    """Worker start-up: bound its memory, load Math-Verify before the first deadline starts."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(WORKER_MEMORY_BYTES, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    _parse_gold("1")  # imports Math-Verify and warms its parser


_pools: dict[tuple[int, int], DeadlinePool] = {}
_pools_lock = threading.Lock()


def _pool(workers: int) -> DeadlinePool:
    """A persistent pool per process and worker count (a forked child never shares its parent's)."""
    with _pools_lock:
        key = (os.getpid(), workers)
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = DeadlinePool("mimo.verifiers.math:verify_response", workers,
                                                  "mimo.verifiers.math:_init_worker")
        return pool


@atexit.register
def close_pools() -> None:
    """Stop the persistent worker pools."""
    with _pools_lock:
        for (pid, _), pool in _pools.items():
            if pid == os.getpid():
                pool.close()
        _pools.clear()


def _check(item: Any) -> tuple[str, str] | str:
    if not isinstance(item, Mapping):
        return "item must be an object"
    response, answer = item.get("response"), item.get("answer")
    if response is None:
        response = ""
    if not isinstance(response, str):
        return "response must be a string"
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        return "missing gold answer"
    return response, answer


def score_math(items: Sequence[Mapping[str, Any]], *, workers: int = 2,
               timeout_s: float = DEFAULT_TIMEOUT_S) -> list[MathScore]:
    """Math rewards of ``items`` (``{"id", "response", "answer"}``), in order.

    Each item gets ``timeout_s`` of wall-clock time in a worker process; see the module docstring
    for the statuses.
    """
    checked = [_check(it) for it in items]
    todo = [i for i, c in enumerate(checked) if isinstance(c, tuple)]
    outcomes: dict[int, tuple[str, Any]] = {}
    if todo:
        pool = _pool(max(1, workers))
        try:
            for i, res in zip(todo, pool.map([checked[i] for i in todo], timeout_s)):
                outcomes[i] = res
        except Exception as e:  # noqa: BLE001 - the pool itself failed: report, never score silently
            outcomes = {i: ("error", f"worker pool failed: {type(e).__name__}: {e}") for i in todo}
    scores = []
    for i, item in enumerate(items):
        item_id = item.get("id") if isinstance(item, Mapping) else None
        if i not in outcomes:
            scores.append(MathScore(item_id, 0.0, "error", str(checked[i])))
            continue
        kind, value = outcomes[i]
        if kind == OK:
            status, detail = value
        elif kind == TIMEOUT:
            status, detail = "timeout", f"deadline of {timeout_s:g}s"
        else:
            status, detail = "error", str(value)
        scores.append(MathScore(item_id, 1.0 if status == "correct" else 0.0, status,
                                detail if status in ("error", "timeout") else ""))
    return scores
