"""Benchmark: what GRPO adds to a trained tiny SFT model on the toy curriculum, at the edge of competence.

    .venv/bin/python bench/bench_rl_tiny.py --model SFT_DIR [--steps 12 24] [--lr 1e-5 3e-5]

The project's RL path end to end on a real checkpoint: curation as the ``rl_math_problems`` asset
does it (16 rollouts per training problem at temperature 1.0, keep 0 < pass rate <= 0.9:
``mimo.rl.curation``), then ``train_rl`` (the seamless rollout engine, Math-Verify rewards, GRPO with
token-level loss, no KL, Clip-Higher, dynamic sampling, easy pool), then held-out pass@1 (temperature
0.6, ``--samples`` per problem, problem-level 95 % interval) before and after, per level, and the
paired difference. How the default profile's RL steps and learning rate were picked (docs/budgets.md).
Results: one JSON line per run, appended to ``bench/results/rl_tiny.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def curate(model_dir: str, problems: list, rollouts: int, max_tokens: int, out: Path) -> tuple[Path, dict]:
    """Pass rates of ``rollouts`` samples per problem; the problems at the edge (0 < rate <= 0.9) as parquet."""
    import pyarrow.parquet as pq

    from mimo.generate.base import SamplingParams
    from mimo.generate.config import GeneratorConfig, make_generator
    from mimo.problems.records import problems_to_table
    from mimo.rl.curation.rollouts import rollout_pass_rates

    gen = make_generator(GeneratorConfig(backend="transformers", model=model_dir, batch_size=64))
    try:
        stats, _ = rollout_pass_rates(problems, gen, n=rollouts, sampling=SamplingParams(
            temperature=1.0, top_p=1.0, max_tokens=max_tokens, seed=0), progress=False)
    finally:
        gen.close()
    rate = {pid: s.pass_rate for pid, s in stats.items()}
    kept = [p for p in problems if 0 < rate[p.id] <= 0.9]
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(problems_to_table(kept), out / "problems.parquet")
    hist = {b: sum(1 for r in rate.values() if lo <= r < hi) for b, (lo, hi) in
            {"0": (0, 1e-9), "(0,0.5)": (1e-9, 0.5), "[0.5,0.9]": (0.5, 0.90001), "(0.9,1]": (0.90001, 2)}.items()}
    return out / "problems.parquet", {"candidates": len(problems), "kept": len(kept), "pass_rate_histogram": hist}


def run_problems(paths: dict[str, str], heldout: int, candidates: int) -> tuple[list, list]:
    """A finished run's held-out toy math problems (as ``eval_*`` uses them) and its first training problems."""
    import random

    import pyarrow.parquet as pq

    from _run_state import heldout_problems
    from mimo.problems.records import table_to_problems

    test = [p for p in heldout_problems(paths) if p.domain == "math"][:heldout]
    pool = table_to_problems(pq.read_table(f"{paths['reasoning_problems']}/problems.parquet"))
    train = [p for p in pool if p.split == "train" and p.domain == "math"]
    random.Random(0).shuffle(train)
    return test, train[:candidates]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="SFT checkpoint directory (default: --state's sft_model)")
    ap.add_argument("--state", default=None,
                    help="a finished tiny run: its SFT model, held-out toy split and training problems")
    ap.add_argument("--math", type=int, default=6000, help="toy problems generated (as bench_tiny_budget)")
    ap.add_argument("--heldout", type=int, default=256)
    ap.add_argument("--level-weights", default="0.4,0.3,0.2,0.1")
    ap.add_argument("--candidates", type=int, default=96, help="training problems curated")
    ap.add_argument("--no-curate", action="store_true",
                    help="RL on every candidate (no pass-rate filter; dynamic sampling still drops flat groups)")
    ap.add_argument("--steps", nargs="+", type=int, default=[12])
    ap.add_argument("--lr", nargs="+", type=float, default=[1e-5])
    ap.add_argument("--batch-prompts", type=int, default=8)
    ap.add_argument("--num-generations", type=int, default=8)
    ap.add_argument("--mini-batch-prompts", type=int, default=None, help="default: half the batch")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--backend", default="batch", choices=["batch", "inflight"])
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--work", default="/tmp/mimo-bench-rl-tiny")
    args = ap.parse_args(argv)
    import torch

    from bench_tiny_budget import emit, eval_one
    from mimo.eval.stats import paired_difference
    from mimo.problems.toy import generate_toy_problems
    from mimo.rl.grpo.loop import RLTrainConfig, train_rl

    torch.set_num_threads(2)
    if args.state:
        from _run_state import catalog_paths

        paths = catalog_paths(args.state)
        args.model = args.model or f"{paths['sft_model']}/model"
        test, train = run_problems(paths, args.heldout, args.candidates)
    elif args.model:
        weights = {i + 1: float(w) for i, w in enumerate(args.level_weights.split(","))} if args.level_weights else None
        problems = generate_toy_problems(args.math, 0, seed=0, heldout_fraction=args.heldout / args.math,
                                         level_weights=weights)
        test = [p for p in problems if p.split == "heldout"]
        train = [p for p in problems if p.split == "train"][: args.candidates]
    else:
        ap.error("give --model or --state")
    work = Path(args.work)
    t0 = time.perf_counter()
    if args.no_curate:  # the whole candidate pool; dynamic sampling drops the all-0/all-1 groups online
        from mimo.problems.records import problems_to_table
        import pyarrow.parquet as pq

        (work / "pool").mkdir(parents=True, exist_ok=True)
        problem_file = work / "pool" / "problems.parquet"
        pq.write_table(problems_to_table(train), problem_file)
        curation = {"candidates": len(train), "kept": len(train), "curated": False}
    else:
        problem_file, curation = curate(args.model, train, 16, args.max_tokens, work / "curated")
    curation["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps({"curation": curation}), flush=True)
    before = eval_one(Path(args.model), test, args.samples, args.max_tokens, 0, keep_scores=True)
    before_scores = before.pop("scores")
    out = ROOT / "bench" / "results" / "rl_tiny.jsonl"
    for steps in args.steps:
        for lr in args.lr:
            run_dir = work / f"s{steps}-lr{lr}-b{args.batch_prompts}-g{args.num_generations}-{args.backend}"
            cfg = RLTrainConfig(stage="rl", init_from=args.model, problem_files=[str(problem_file)],
                                out_dir=str(run_dir), rollout_backend=args.backend, threads=2,
                                generation_batch_groups=args.batch_prompts, checkpoint_every_steps=10**6,
                                grpo={"steps": steps, "learning_rate": lr, "num_generations": args.num_generations,
                                      "batch_prompts": args.batch_prompts,
                                      "mini_batch_prompts": args.mini_batch_prompts or max(1, args.batch_prompts // 2),
                                      "micro_batch_samples": 16, "max_completion_length": args.max_tokens})
            t1 = time.perf_counter()
            summary = train_rl(cfg, lambda event, payload: print(f"  [{event}] {json.dumps(payload)[:300]}", flush=True)
                               if event in ("metrics", "log") else None)
            rl_s = round(time.perf_counter() - t1, 1)
            after = eval_one(Path(summary["final_dir"]), test, args.samples, args.max_tokens, 0, keep_scores=True)
            diff = paired_difference(before_scores, after.pop("scores"))
            result = {"pool": len(train), "steps": steps, "lr": lr, "batch_prompts": args.batch_prompts, "G": args.num_generations,
                      "backend": args.backend, "rl_s": rl_s, "curation": curation,
                      "before": before, "after": after,
                      "gain_points": round(100 * diff["mean"], 2),
                      "gain_ci95": [round(100 * diff["lo"], 2), round(100 * diff["hi"], 2)],
                      "significant": diff["significant"]}
            emit(result, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
