"""Benchmark: evaluation throughput (samples/s) on the tiny profile and the cost of repeats.

    python bench/bench_eval.py [--state .state] [--checkpoint sft_model] [--problems 24] [--repeats 1 4 8]

Evaluates one checkpoint of a finished run (transformers backend, MiMo's sampling: temperature 0.6,
top-p 0.95) on the same held-out toy problems with n = 1, 4, 8 samples per problem, through the
resumable runner the assets use (scoring included). Reports samples/s, seconds per problem, and the
cost of n repeats relative to n = 1 (n means n× the samples; batching makes it cheaper than n×).
Results: ``bench/results/eval.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default=str(ROOT / ".state"))
    ap.add_argument("--checkpoint", default="sft_model")
    ap.add_argument("--problems", type=int, default=24)
    ap.add_argument("--repeats", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "bench/results/eval.json"))
    args = ap.parse_args()
    import torch
    from _run_state import load_run

    from mimo.eval.runner import EvalSettings, run_evaluation
    from mimo.generate.base import SamplingParams
    from mimo.generate.config import GeneratorConfig, make_generator

    paths, problems = load_run(args.state)
    problems = sorted(random.Random(0).sample(problems, min(args.problems, len(problems))), key=lambda p: p.id)
    model = f"{paths[args.checkpoint]}/model"
    results = []
    for n in [0, *args.repeats]:  # n = 0: warm-up (imports, first model load, reward workers), not reported
        warmup = n == 0
        n = max(n, 1)
        settings = EvalSettings(n=n, sampling=SamplingParams(temperature=0.6, top_p=0.95, max_tokens=args.max_tokens,
                                                             seed=0), chunk_problems=len(problems))
        with tempfile.TemporaryDirectory() as work:
            run = run_evaluation(problems[:2] if warmup else problems, lambda: make_generator(GeneratorConfig(
                backend="transformers", model=model, batch_size=args.batch_size, device="cpu")),
                settings, work, benchmark="toy_heldout", show_progress=False)
        if warmup:
            continue
        row = {"n": n, "samples": run.samples_generated, "seconds": round(run.seconds, 2),
               "samples_per_s": round(run.samples_per_s, 2), "seconds_per_problem": round(run.seconds / len(problems), 3),
               "completion_tokens": run.usage.completion_tokens,
               "tokens_per_s": round(run.usage.completion_tokens / run.seconds, 1), f"pass@1": run.metrics[f"avg@{n}"]}
        results.append(row)
        print(f"[bench] n={n}: {row['samples']} samples in {row['seconds']} s = {row['samples_per_s']} samples/s, "
              f"{row['tokens_per_s']} tok/s, pass@1 {row['pass@1']:.3f}", flush=True)
    base = results[0]["seconds"]
    print("\n| repeats n | samples | seconds | samples/s | cost vs n=1 | (n× samples) |\n|---|---|---|---|---|---|")
    for r in results:
        r["cost_vs_n1"] = round(r["seconds"] / base, 2)
        print(f"| {r['n']} | {r['samples']} | {r['seconds']} | {r['samples_per_s']} | {r['cost_vs_n1']}× | {r['n']}× |")
    out = {"setup": {**vars(args), "checkpoint_path": model, "problems": len(problems),
                     "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                     "torch_threads": torch.get_num_threads()}, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
