"""Benchmark: pass@1 of the series Base / SFT / RL-Zero / RL on the tiny profile's held-out toy
reasoning split (MiMo's evaluation settings: temperature 0.6, top-p 0.95, the mean over repeats).

    python bench/bench_rl_eval.py [--state .state] [--n 4] [--max-problems 60] [--max-tokens 256]

Reads the latest checkpoints of a finished run from its catalog (``pretrain_stage3`` = Base,
``sft_model``, ``rl_zero_model``, ``rl_model``), evaluates each on the same problems with the
transformers backend through :func:`mimo.eval.evaluate` (Math-Verify and the bubblewrap code
sandbox), and prints avg@n (pass@1) per domain. Results: ``bench/results/rl_eval.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SERIES = {"Base": "pretrain_stage3", "SFT": "sft_model", "RL-Zero": "rl_zero_model", "RL": "rl_model"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default=str(ROOT / ".state"))
    ap.add_argument("--n", type=int, default=4, help="samples per problem (pass@1 = mean over them)")
    ap.add_argument("--max-problems", type=int, default=60, help="held-out problems (seeded sample), 0 = all")
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--out", default=str(ROOT / "bench/results/rl_eval.json"))
    args = ap.parse_args()
    from _run_state import load_run

    from mimo.eval import MIMO_EVAL_SAMPLING, evaluate, summarize
    from mimo.generate.config import GeneratorConfig, make_generator

    paths, problems = load_run(args.state)
    if args.max_problems and len(problems) > args.max_problems:
        problems = sorted(random.Random(0).sample(problems, args.max_problems), key=lambda p: p.id)
    sampling = MIMO_EVAL_SAMPLING.__class__(temperature=MIMO_EVAL_SAMPLING.temperature,
                                            top_p=MIMO_EVAL_SAMPLING.top_p, max_tokens=args.max_tokens, seed=0)
    results: dict[str, dict] = {}
    for name, asset in SERIES.items():
        if asset not in paths:
            print(f"[bench] {name}: {asset} not materialized, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        gen = make_generator(GeneratorConfig(backend="transformers", model=f"{paths[asset]}/model",
                                             batch_size=args.batch_size))
        try:
            rows, usage = evaluate(problems, gen, n=args.n, sampling=sampling, benchmark="toy_heldout",
                                   show_progress=False)
        finally:
            gen.close()
        per_domain = {d: summarize([r for r in rows if r["domain"] == d]) for d in ("math", "code")}
        results[name] = {"checkpoint": paths[asset], "all": summarize(rows), **per_domain,
                         "seconds": round(time.perf_counter() - t0, 1), "completion_tokens": usage.completion_tokens}
        print(f"[bench] {name:<8} pass@1 {results[name]['all'][f'avg@{args.n}']:.3f} "
              f"(math {per_domain['math'].get(f'avg@{args.n}', 0):.3f}, code {per_domain['code'].get(f'avg@{args.n}', 0):.3f}) "
              f"in {results[name]['seconds']} s", flush=True)
    print("\n| model | pass@1 all | math | code |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['all'][f'avg@{args.n}']:.3f} | {r['math'].get(f'avg@{args.n}', 0):.3f} | "
              f"{r['code'].get(f'avg@{args.n}', 0):.3f} |")
    out = {"setup": {**vars(args), "problems": len(problems), "sampling": sampling.to_dict()}, "results": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
