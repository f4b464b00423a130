"""The code reward: run the response's program against the tests in the sandbox, then score.

Schemes ([TR] §3.3.1). Levels are the tests' ``level`` (1 = easiest); each level ℓ present has a
score s_ℓ (equal by default; configurable, renormalized to sum 1 over the levels present):

* ``vanilla``: 1 only when every test passes;
* ``strict``: Σ_ℓ s_ℓ · [every test of level ℓ and of every easier level passes];
* ``soft``: Σ_ℓ s_ℓ · (tests of level ℓ passed) / (tests of level ℓ).

Item status: ``correct`` when every test passes; else ``error`` when the sandbox itself failed on
some test (an infrastructure failure: do not train on it); else the status of the first failed
test (wrong_answer, runtime_error, timeout, memory_limit, output_limit, syntax_error); ``no_code``
when the response holds no program, ``invalid`` when the item is malformed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mimo.verifiers.answer import extract_program
from mimo.verifiers.sandbox.isolation import Limits, Sandbox, get_sandbox
from mimo.verifiers.sandbox.isolation import isolation_info as _isolation_info
from mimo.verifiers.sandbox.runner import Test, TestOutcome, run_tests

SCHEMES = ("vanilla", "strict", "soft")
CODE_STATUSES = ("correct", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit",
                 "syntax_error", "no_code", "invalid", "error")
DEFAULT_TIME_LIMIT_S = 4.0
DEFAULT_MEMORY_LIMIT_MB = 512
MAX_TIME_LIMIT_S = 60.0
MAX_MEMORY_LIMIT_MB = 8192
SANDBOX_START_S = 0.5  # a sandboxed test's start-up on top of its time limit (bubblewrap + interpreter)

LevelScores = Sequence[float] | Mapping[int, float] | None


@dataclass
class CodeScore:
    """The reward of one response."""

    id: Any
    reward: float
    passed: list[bool]
    status: str
    test_status: list[str] = field(default_factory=list)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The CLI's output line (``detail`` only when there is something to say)."""
        d = {"id": self.id, "reward": self.reward, "passed": self.passed, "status": self.status,
             "test_status": self.test_status}
        if self.detail:
            d["detail"] = self.detail
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CodeScore:
        """Inverse of :meth:`to_dict` (the judge service's wire format)."""
        return cls(d.get("id"), float(d["reward"]), [bool(p) for p in d.get("passed", [])], str(d["status"]),
                   [str(s) for s in d.get("test_status", [])], str(d.get("detail", "")))


def parse_tests(raw: Any) -> list[Test]:
    """Tests in the CLI format (``TestCase.to_dict()`` with or without None keys); ValueError if bad."""
    if not isinstance(raw, list) or not raw:
        raise ValueError("tests must be a non-empty list")
    tests = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise ValueError(f"test {i}: must be an object")
        level = t.get("level")
        level = 1 if level is None else level
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            raise ValueError(f"test {i}: level must be an integer >= 1")
        code = t.get("assert", t.get("assert_"))
        if code is not None:
            if not isinstance(code, str):
                raise ValueError(f"test {i}: assert must be a string")
            tests.append(Test(code=code, level=level))
        elif isinstance(t.get("output"), str) and isinstance(t.get("input") or "", str):
            tests.append(Test(input=t.get("input") or "", output=t["output"], level=level))
        else:
            raise ValueError(f"test {i}: needs string 'output' (with 'input') or 'assert'")
    return tests


def validate_level_scores(level_scores: LevelScores) -> None:
    """ValueError unless every score is a finite number >= 0 and at least one is positive."""
    if level_scores is None:
        return
    values = list(level_scores.values()) if isinstance(level_scores, Mapping) else list(level_scores)
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError("level scores must be numbers") from None
    if not floats or any(v < 0 or not math.isfinite(v) for v in floats) or sum(floats) <= 0:
        raise ValueError("level scores must be finite, >= 0, with a positive sum")


def level_weights(levels: Sequence[int], level_scores: LevelScores = None) -> dict[int, float]:
    """Score of each level present, summing to 1 (equal by default)."""
    present = sorted(set(levels))
    if level_scores is None:
        return {lv: 1.0 / len(present) for lv in present}
    if isinstance(level_scores, Mapping):
        raw = {lv: float(level_scores.get(lv, level_scores.get(str(lv), 0.0))) for lv in present}  # type: ignore[call-overload]
    else:
        raw = {lv: float(level_scores[lv - 1]) if lv - 1 < len(level_scores) else 0.0 for lv in present}
    if any(v < 0 or not math.isfinite(v) for v in raw.values()) or sum(raw.values()) <= 0:
        raise ValueError(f"level scores must be >= 0 with a positive sum over levels {present}")
    total = sum(raw.values())
    return {lv: v / total for lv, v in raw.items()}


def scheme_reward(passed: Sequence[bool], levels: Sequence[int], scheme: str = "vanilla",
                  level_scores: LevelScores = None) -> float:
    """The reward of per-test results under ``scheme`` (see the module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (expected one of {SCHEMES})")
    if not passed:
        return 0.0
    if scheme == "vanilla":
        return 1.0 if all(passed) else 0.0
    weights = level_weights(levels, level_scores)
    reward = 0.0
    if scheme == "strict":
        for lv, w in weights.items():  # ascending levels
            if not all(p for p, l2 in zip(passed, levels) if l2 <= lv):
                break
            reward += w
    else:
        for lv, w in weights.items():
            mine = [p for p, l2 in zip(passed, levels) if l2 == lv]
            reward += w * sum(mine) / len(mine)
    return min(1.0, round(reward, 12))


def item_limits(item: Mapping[str, Any]) -> Limits:
    """Per-item limits from ``time_limit_s`` / ``memory_limit_mb`` (defaults when absent)."""
    t = item.get("time_limit_s")
    m = item.get("memory_limit_mb")
    t = DEFAULT_TIME_LIMIT_S if t is None else float(t)
    m = DEFAULT_MEMORY_LIMIT_MB if m is None else int(m)
    if not (0 < t <= MAX_TIME_LIMIT_S) or not (64 <= m <= MAX_MEMORY_LIMIT_MB):
        raise ValueError(f"time_limit_s must be in (0, {MAX_TIME_LIMIT_S}] and memory_limit_mb in "
                         f"[64, {MAX_MEMORY_LIMIT_MB}]")
    return Limits(time_s=t, memory_mb=m)


def group_budget_s(payload: Mapping[str, Any], responses: int, threads: int = 1) -> float:
    """Worst-case seconds to judge ``responses`` programs on ``payload``'s tests, ``threads`` programs
    at a time: every test may run to its own time limit (plus sandbox start-up). A deadline for a
    whole group derived from this never masks a group whose tests each stay within their limits.
    A payload whose tests or limits cannot be read costs nothing (it is scored ``invalid`` at once)."""
    try:
        tests = len(parse_tests(payload.get("tests")))
        limit = item_limits(payload).time_s
    except (ValueError, TypeError, AttributeError):
        return 0.0
    rounds = -(-max(0, responses) // max(1, threads))
    return rounds * tests * (limit + SANDBOX_START_S)


def _item_status(outcomes: Sequence[TestOutcome]) -> str:
    if all(o.passed for o in outcomes):
        return "correct"
    if any(o.status == "error" for o in outcomes):
        return "error"
    return next(o.status for o in outcomes if not o.passed)


def score_item(sandbox: Sandbox, item: Mapping[str, Any], scheme: str = "vanilla",
               level_scores: LevelScores = None) -> CodeScore:
    """Score one item (never raises: malformed items get status ``invalid``)."""
    item_id = item.get("id") if isinstance(item, Mapping) else None
    try:
        if not isinstance(item, Mapping):
            raise ValueError("item must be an object")
        tests = parse_tests(item.get("tests"))
        limits = item_limits(item)
        response = item.get("response")
        if not isinstance(response, str):
            raise ValueError("response must be a string")
    except (ValueError, TypeError) as e:
        return CodeScore(item_id, 0.0, [], "invalid", detail=str(e))
    program = extract_program(response)
    if not program.strip():
        return CodeScore(item_id, 0.0, [False] * len(tests), "no_code", ["no_code"] * len(tests))
    try:
        outcomes = run_tests(sandbox, program, tests, limits)
    except Exception as e:  # noqa: BLE001 - an infrastructure failure is reported, never scored silently
        return CodeScore(item_id, 0.0, [False] * len(tests), "error", ["error"] * len(tests),
                         detail=f"{type(e).__name__}: {e}")
    passed = [o.passed for o in outcomes]
    status = _item_status(outcomes)
    detail = next((o.detail for o in outcomes if o.status == "error"), "") if status == "error" else ""
    try:
        reward = scheme_reward(passed, [t.level for t in tests], scheme, level_scores)
    except ValueError as e:
        return CodeScore(item_id, 0.0, passed, "invalid", [o.status for o in outcomes], detail=str(e))
    return CodeScore(item_id, reward, passed, status, [o.status for o in outcomes], detail)


def score_code(items: Sequence[Mapping[str, Any]], *, scheme: str = "vanilla", level_scores: LevelScores = None,
               workers: int = 2, allow_weak_isolation: bool = False, judge_url: str | None = None,
               judge_token: str | None = None) -> list[CodeScore]:
    """Code rewards of ``items`` (CLI input dicts), in order.

    Runs locally in the strongest sandbox available (weak isolation only when accepted, else
    :class:`~mimo.verifiers.sandbox.isolation.SandboxUnavailable`), ``workers`` programs at a time, or on
    a remote judge service when ``judge_url`` is given.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r} (expected one of {SCHEMES})")
    validate_level_scores(level_scores)
    if judge_url:
        from mimo.verifiers.sandbox.client import JudgeClient

        return JudgeClient(judge_url, token=judge_token).score(items, scheme=scheme, level_scores=level_scores)
    sandbox = get_sandbox(allow_weak_isolation)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="code-reward") as pool:
        return list(pool.map(lambda it: score_item(sandbox, it, scheme, level_scores), items))


def isolation_info(allow_weak_isolation: bool = False) -> dict:
    """Which isolation the code reward runs under here (for asset metadata)."""
    return _isolation_info(allow_weak_isolation)
