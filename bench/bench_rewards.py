"""Benchmark: rule-based rewards on this machine, each against a baseline measured in the same run.

    python bench/bench_rewards.py [--reps 7] [--programs 200] [--execs 200] [--skip-humaneval]
                                  [--out bench/results/rewards.json]

* math: ``score_math`` (worker processes, per-item wall-clock deadline, 2 workers) against raw
  ``math_verify.verify(parse(gold), parse(pred))`` in a ``multiprocessing.Pool(2)``, on the same
  1,000 items (the 500 MATH-500 reference solutions against their answers, and 500 swapped
  pairs). Both pools are fresh each repetition and warmed on other items (AIME 2024) first, so
  neither side profits from the other's caches; the order alternates; medians are reported.
* agreement: every MATH-500 reference solution must score 1 against its answer and every swapped
  pair 0; every HumanEval canonical solution must score 1.0 with each assert of its ``check`` as
  its own test, and every swapped pair 0.
* code: sandboxed executions per second (stdin/stdout runs and assert-test recording runs, 2 at a
  time) against unisolated ``subprocess.run([python3, -S, -c, program])`` of the same program, and
  ``score_code`` throughput on ``--programs`` programs x 5 stdin/stdout tests (the tiny profile's
  shape).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", ROOT.parent / "shared")) / "benchmarks"

from mimo.verifiers import math as math_reward
from mimo.verifiers.code import score_code
from mimo.verifiers.humaneval import split_check
from mimo.verifiers.sandbox.isolation import Limits, get_sandbox, weak_sandbox
from mimo.verifiers.sandbox.runner import blind_asserts


def _raw_verify(pair: tuple[str, str]) -> bool:
    from math_verify import parse, verify

    gold, pred = pair
    return verify(parse(gold), parse(pred))


def math_items() -> tuple[list[dict], list[int]]:
    rows = [json.loads(line) for line in (SHARED / "math500.jsonl").read_text().splitlines()]
    items = [{"id": f"ref-{i}", "response": r["solution"], "answer": r["answer"]} for i, r in enumerate(rows)]
    expected = [1] * len(items)
    for i, r in enumerate(rows):
        other = rows[(i + 7) % len(rows)]["answer"]
        items.append({"id": f"swap-{i}", "response": r["solution"], "answer": other})
        expected.append(1 if other.strip() == r["answer"].strip() else 0)
    return items, expected


def warmup_items() -> list[dict]:
    rows = [json.loads(line) for line in (SHARED / "aime24.jsonl").read_text().splitlines()]
    return [{"id": i, "response": f"The answer is $\\boxed{{{r['answer']}}}$.", "answer": str(r["answer"])}
            for i, r in enumerate(rows)]


def _children_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def time_raw(items: list[dict], warm: list[dict], workers: int) -> tuple[float, list[bool], float, float]:
    """(seconds, results, pool start-up seconds, worker CPU seconds incl. start-up) of the baseline."""
    pairs = [(math_reward.gold_text(it["answer"]), it["response"]) for it in items]
    t0, cpu0 = time.perf_counter(), _children_cpu()
    pool = get_context("fork").Pool(workers)
    pool.map(_raw_verify, [(math_reward.gold_text(w["answer"]), w["response"]) for w in warm])
    start_s = time.perf_counter() - t0
    t = time.perf_counter()
    got = pool.map(_raw_verify, pairs, chunksize=4)
    elapsed = time.perf_counter() - t
    pool.close()
    pool.join()
    return elapsed, got, start_s, _children_cpu() - cpu0


def time_ours(items: list[dict], warm: list[dict], workers: int) -> tuple[float, list, float, float]:
    """(seconds, scores, pool start-up seconds, worker CPU seconds incl. start-up) of score_math."""
    math_reward.close_pools()
    t0, cpu0 = time.perf_counter(), _children_cpu()
    math_reward.score_math(warm, workers=workers)
    start_s = time.perf_counter() - t0
    t = time.perf_counter()
    got = math_reward.score_math(items, workers=workers)
    elapsed = time.perf_counter() - t
    math_reward.close_pools()
    return elapsed, got, start_s, _children_cpu() - cpu0


def bench_math(reps: int, workers: int) -> dict:
    items, expected = math_items()
    warm = warmup_items()
    raw_s, ours_s, raw_start, ours_start, raw_cpu, ours_cpu = [], [], [], [], [], []
    for rep in range(reps):
        order = ("raw", "ours") if rep % 2 == 0 else ("ours", "raw")
        for side in order:
            if side == "raw":
                elapsed, raw_got, start, cpu = time_raw(items, warm, workers)
                raw_s.append(elapsed)
                raw_start.append(start)
                raw_cpu.append(cpu)
            else:
                elapsed, ours_got, start, cpu = time_ours(items, warm, workers)
                ours_s.append(elapsed)
                ours_start.append(start)
                ours_cpu.append(cpu)
        print(f"[bench] math rep {rep}: raw {len(items) / raw_s[-1]:.1f}/s, ours {len(items) / ours_s[-1]:.1f}/s "
              f"(load {os.getloadavg()[0]:.2f})", flush=True)
    raw_rate, ours_rate = len(items) / statistics.median(raw_s), len(items) / statistics.median(ours_s)
    paired = [r / o for r, o in zip(raw_s, ours_s)]  # ours/raw throughput, rep by rep (same conditions)
    statuses: dict[str, int] = {}
    for s in ours_got:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    return {
        "items": len(items), "workers": workers, "reps": reps,
        "raw_items_per_s": round(raw_rate, 1), "ours_items_per_s": round(ours_rate, 1),
        "ratio_ours_over_raw": round(ours_rate / raw_rate, 3),
        "ratio_paired_median": round(statistics.median(paired), 3),
        "ratio_paired_per_rep": [round(x, 3) for x in paired],
        "best_items_per_s": {"raw": round(len(items) / min(raw_s), 1), "ours": round(len(items) / min(ours_s), 1)},
        "worker_cpu_s_median": {"raw": round(statistics.median(raw_cpu), 2),
                                 "ours": round(statistics.median(ours_cpu), 2)},
        "pool_start_s": {"raw": round(statistics.median(raw_start), 2), "ours": round(statistics.median(ours_start), 2)},
        "deadline_s": math_reward.DEFAULT_TIMEOUT_S,
        "ours_statuses": statuses,
        "agreement": {
            "math500_references_correct": sum(1 for s in ours_got[:500] if s.reward == 1.0),
            "math500_references": 500,
            "swapped_same_answer_scored_1": sum(1 for s, e in zip(ours_got[500:], expected[500:])
                                                if e == 1 and s.reward == 1.0),
            "swapped_scored_0": sum(1 for s, e in zip(ours_got[500:], expected[500:]) if e == 0 and s.reward == 0.0),
            "swapped": sum(1 for e in expected[500:] if e == 0),
            "raw_agrees_with_ours": sum(1 for s, r in zip(ours_got, raw_got) if (s.reward == 1.0) == bool(r)),
        },
    }


ADD = "a, b = map(int, input().split())\nprint(a + b)\n"


def _rate(fn, n: int, workers: int) -> float:
    with ThreadPoolExecutor(workers) as pool:
        t = time.perf_counter()
        list(pool.map(lambda _: fn(), range(n)))
        return n / (time.perf_counter() - t)


def bench_sandbox(n: int, workers: int) -> dict:
    box, weak = get_sandbox(), weak_sandbox()
    limits = Limits(time_s=2)

    def plain() -> None:
        out = subprocess.run([box.python, "-S", "-c", ADD], input=b"2 3", capture_output=True, timeout=10, check=False)
        assert out.stdout == b"5\n"

    def isolated(sb) -> None:
        assert sb.run("stdio", ADD.encode(), limits, stdin=b"2 3").stdout == b"5\n"

    payload = json.dumps({"program": "def add(a, b):\n    return a + b\n",
                          "test": blind_asserts("assert add(2, 3) == 5"), "seed": 0}).encode()

    def record() -> None:
        assert box.run("record", payload, limits).extra.startswith(b'{"status":"ok"')

    rates = {"unisolated_subprocess": _rate(plain, n, workers), "bubblewrap_stdio": _rate(lambda: isolated(box), n, workers),
             "weak_stdio": _rate(lambda: isolated(weak), n, workers), "bubblewrap_assert_record": _rate(record, n, workers)}
    out = {k: round(v, 1) for k, v in rates.items()}
    out["isolation_overhead_stdio"] = round(rates["unisolated_subprocess"] / rates["bubblewrap_stdio"], 2)
    out["ms_per_exec"] = {k: round(1000 * workers / v, 1) for k, v in rates.items()}
    out["executions"] = n
    out["workers"] = workers
    return out


def bench_score_code(programs: int, workers: int) -> dict:
    tests = [{"input": f"{i} {i * 3}", "output": str(i * 4)} for i in range(5)]
    variants = ["```python\n" + ADD + "```", "```python\na, b = map(int, input().split())\nprint(a - b)\n```",
                "def f(:\n    pass", "import sys\nprint(sum(map(int, sys.stdin.read().split())))"]
    items = [{"id": i, "response": variants[i % len(variants)], "tests": tests} for i in range(programs)]
    t = time.perf_counter()
    scores = score_code(items, workers=workers)
    elapsed = time.perf_counter() - t
    return {"programs": programs, "tests_per_program": 5, "seconds": round(elapsed, 2),
            "programs_per_s": round(programs / elapsed, 1),
            "mean_reward": round(sum(s.reward for s in scores) / len(scores), 3)}


def bench_humaneval(workers: int) -> dict:
    with gzip.open(SHARED / "humaneval.jsonl.gz", "rt") as f:
        rows = [json.loads(line) for line in f]
    items, swapped = [], []
    for i, row in enumerate(rows):
        tests = [{"assert": t} for t in split_check(row["test"], row["entry_point"])]
        items.append({"id": row["task_id"], "response": row["prompt"] + row["canonical_solution"], "tests": tests})
        other = rows[(i + 1) % len(rows)]
        swapped.append({"id": row["task_id"], "response": other["prompt"] + other["canonical_solution"],
                        "tests": tests})
    t = time.perf_counter()
    good = score_code(items, workers=workers)
    elapsed = time.perf_counter() - t
    bad = score_code(swapped, workers=workers)
    n_tests = sum(len(it["tests"]) for it in items)
    return {"problems": len(items), "assert_tests": n_tests,
            "canonical_scored_1": sum(1 for s in good if s.reward == 1.0),
            "canonical_not_1": [s.id for s in good if s.reward != 1.0],
            "swapped_scored_0": sum(1 for s in bad if s.reward == 0.0),
            "seconds_canonical": round(elapsed, 2), "assert_tests_per_s": round(n_tests / elapsed, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7, help="math timing repetitions (medians kept)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--execs", type=int, default=200, help="sandbox executions per variant")
    ap.add_argument("--programs", type=int, default=200)
    ap.add_argument("--skip-humaneval", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "bench/results/rewards.json"))
    args = ap.parse_args()
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform(), "loadavg_at_start": os.getloadavg()},
              "isolation": get_sandbox().info()}
    result["math"] = bench_math(args.reps, args.workers)
    print(f"[bench] math: {json.dumps(result['math'])}", flush=True)
    result["sandbox"] = bench_sandbox(args.execs, args.workers)
    print(f"[bench] sandbox: {json.dumps(result['sandbox'])}", flush=True)
    result["score_code"] = bench_score_code(args.programs, args.workers)
    print(f"[bench] score_code: {json.dumps(result['score_code'])}", flush=True)
    if not args.skip_humaneval:
        result["humaneval"] = bench_humaneval(args.workers)
        print(f"[bench] humaneval: {json.dumps(result['humaneval'])}", flush=True)
    result["machine"]["loadavg_at_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"[bench] wrote {args.out}")


if __name__ == "__main__":
    main()
