"""Evaluation metrics from per-sample results: unbiased pass@k, avg@n, maj@n, and the answer a math
response commits to (the last ``\\boxed{...}`` of its final text)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from math import comb

from mimo.eval.stats import pass1_interval
from mimo.verifiers.answer import final_text


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct (Chen et al., 2021):
    ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def extract_boxed(response: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (braces balanced) in the final text, else None."""
    text = final_text(response)
    if text is None:
        return None
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    i, depth, out = start + len("\\boxed{"), 1, []
    while i < len(text):
        ch = text[i]
        depth += ch == "{"
        depth -= ch == "}"
        if depth == 0:
            return "".join(out).strip()
        out.append(ch)
        i += 1
    return None


def summarize(rows: Iterable[dict], ks: Sequence[int] = (1,)) -> dict:
    """Per-benchmark metrics from sample rows (``problem_id``, ``reward``, ``answer``; a sample is
    correct when its reward is 1). ``avg@n`` = mean reward over all samples (MiMo's pass@1 as the
    mean over repeats); ``maj@n`` = share of problems whose most common extracted answer is a correct
    one (math; ties broken by first occurrence); ``pass@1_ci95`` = 95 % interval of pass@1 with the
    problem as the unit (:mod:`mimo.eval.stats`)."""
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_problem[r["problem_id"]].append(r)
    if not by_problem:
        return {"problems": 0}
    ns = {len(v) for v in by_problem.values()}
    n = min(ns)
    out: dict = {"problems": len(by_problem), "samples_per_problem": n if len(ns) == 1 else sorted(ns)}
    out[f"avg@{n}"] = sum(float(r["reward"]) for v in by_problem.values() for r in v) / sum(
        len(v) for v in by_problem.values())
    ci = pass1_interval(r for v in by_problem.values() for r in v)
    out["pass@1_ci95"] = [round(ci["lo"], 4), round(ci["hi"], 4)]
    for k in ks:
        if k <= n:
            out[f"pass@{k}"] = sum(pass_at_k(len(v), sum(float(r["reward"]) >= 1.0 for r in v), k)
                                   for v in by_problem.values()) / len(by_problem)
    if all(r.get("answer") is not None or r.get("domain") == "math" for v in by_problem.values() for r in v):
        votes = 0
        for v in by_problem.values():
            answers = [r.get("answer") for r in v if r.get("answer")]
            if not answers:
                continue
            top = Counter(answers).most_common(1)[0][0]
            votes += any(r.get("answer") == top and float(r["reward"]) >= 1.0 for r in v)
        out[f"maj@{n}"] = votes / len(by_problem)
    return out
