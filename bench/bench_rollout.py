"""Rollout engine benchmark: naive dynamic sampling vs the seamless rollout engine (MiMo Table 2/3).

``--generator tiny``: the real tiny model (the tiny profile's SFT checkpoint) in the transformers
backend on toy math + code problems with real Math-Verify and sandboxed code rewards
(``bench/_rollout_tiny.py``; how groups become valid at this scale: ``bench/_tiny_workload.py``). ``--generator scripted`` (default): a *scripted* generator (no
model: per-request latency drawn from a long-tailed lognormal) answering toy code problems with
correct or broken programs, scored by the real code reward (bubblewrap sandbox; a quarter of the
programs sleep 0.05 s per test). Naive and the three cumulative configurations run the same
workload (same prompts, same order), interleaved step by step so that load from other jobs on the
machine hits them alike. ``--ablation`` adds "+early termination, no pruning" (the
engine without ``prune_queued``). ``--simulate``: the discrete-event simulator at 256 workers.

    .venv/bin/python bench/bench_rollout.py --generator tiny --state /tmp/st2 [--ablation]
    .venv/bin/python bench/bench_rollout.py [--steps 2] [--ablation] [--simulate]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from mimo.rl.rollout import MiMoRewardFn, RolloutConfig, SeamlessRolloutEngine, tasks_from_problems  # noqa: E402
from mimo.rl.rollout.metrics import aggregate, format_table, table2  # noqa: E402
from mimo.rl.rollout.scripted import PromptScript, ScriptedGenerator  # noqa: E402

CONFIGS = {"naive": (False, False, False), "+continuous rollout": (True, False, False),
           "+async reward": (True, True, False), "+early termination": (True, True, True)}
ABLATION = {"+early termination, no pruning": (True, True, True)}


def workload(n_prompts: int, g: int, seed: int, median_s: float, sigma: float):
    """Toy code problems and, per prompt, ``g`` scripted responses (some correct) and a latency."""
    from mimo.problems.toy import generate_toy_problems

    rng = random.Random(seed)
    problems = generate_toy_problems(0, n_prompts, seed=seed)
    tasks = list(tasks_from_problems(problems, num_generations=g))
    scripts = {}
    for p, t in zip(problems, tasks):
        u = rng.random()
        rate = 0.0 if u < 0.2 else 1.0 if u < 0.3 else rng.random()
        texts = []
        for _ in range(g):
            sleep = rng.choice([0.0, 0.0, 0.0, 0.05])
            body = p.solution if rng.random() < rate else "print('wrong')"
            texts.append(f"<think>ok</think>\n```python\nimport time\ntime.sleep({sleep})\n{body}\n```")
        delay = min(8 * median_s, median_s * math.exp(rng.gauss(0, sigma)))
        scripts[t.messages[-1]["content"]] = PromptScript(tuple(texts), delay, int(delay * 1000))
    return tasks, scripts


def run_real(args: argparse.Namespace) -> dict:
    tasks, scripts = workload(args.prompts, args.g, args.seed, args.median_s, args.sigma)
    configs = {**CONFIGS, **(ABLATION if args.ablation else {})}
    engines = {}
    for name, flags in configs.items():
        cfg = RolloutConfig(*flags, generation_threads=args.gen_threads, micro_batch_groups=1,
                            reward_workers=args.reward_workers, reward_timeout_s=60.0,
                            prune_queued="no pruning" not in name)
        engines[name] = SeamlessRolloutEngine(ScriptedGenerator(scripts), MiMoRewardFn(), cfg)
        engines[name].warm_up()
    its = {name: iter(tasks) for name in configs}
    steps: dict[str, list] = {name: [] for name in configs}
    try:  # interleaved (step 1 of every config, then step 2, ...): machine load hits all alike
        for _ in range(args.steps):
            for name, eng in engines.items():
                steps[name].append(eng.collect(its[name], args.batch).metrics)
    finally:
        for eng in engines.values():
            eng.close()
    rows = {name: aggregate(ms) for name, ms in steps.items()}
    detail = {name: [m.to_dict() for m in ms] for name, ms in steps.items()}
    for name, row in rows.items():
        print(f"  {name}: {row['rollout_s']:.1f}s", flush=True)
    train_s = args.train_fraction * rows["naive"]["rollout_s"]
    t2 = table2(rows, "naive", train_s)
    val = {}
    for name, flags in (("naive", (False, False, False)), ("seamless", (True, True, False))):
        cfg = RolloutConfig(*flags, generation_threads=args.gen_threads, micro_batch_groups=1,
                            reward_workers=args.reward_workers)  # naive: the whole set, then its rewards
        with SeamlessRolloutEngine(ScriptedGenerator(scripts), MiMoRewardFn(), cfg) as eng:
            eng.warm_up()
            val[name] = eng.validate(tasks[: args.val_prompts]).metrics.to_dict()
    return {"table2": t2, "raw": rows, "steps": detail, "train_s_assumed": train_s,
            "table3": {"validation_speedup": round(val["naive"]["wall_s"] / val["seamless"]["wall_s"], 3),
                       "naive": val["naive"], "seamless": val["seamless"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--simulate", action="store_true", help="cluster-scale simulation instead")
    ap.add_argument("--generator", choices=("scripted", "tiny"), default="scripted")
    ap.add_argument("--model", default=None, help="tiny: base checkpoint (default: sft_model of --state)")
    ap.add_argument("--state", default=".state", help="tiny: a finished run's state directory")
    ap.add_argument("--max-tokens", type=int, default=256, help="tiny: max_tokens of a rollout")
    ap.add_argument("--micro-batch", type=int, default=4,
                    help="tiny: groups per generate_batch call (continuous: groups' worth of sequence slots)")
    ap.add_argument("--pool", choices=("mixed", "curated"), default="mixed",
                    help="tiny: the bench's mixed toy pool, or the run's curated RL problems (--state)")
    ap.add_argument("--temperature", type=float, default=1.0, help="tiny: rollout temperature")
    ap.add_argument("--backend", choices=("batch", "inflight"), default="batch",
                    help="tiny: batch-synchronous transformers backend, or in-flight batching (per-sequence, abort)")
    ap.add_argument("--ablation", action="store_true", help="also +early termination without pruning")
    ap.add_argument("--naive-oversample", type=int, default=1,
                    help="tiny: also a naive row whose rounds are K x the batch (DAPO's recipe: 3)")
    ap.add_argument("--steps", type=int, default=None, help="steps per configuration (scripted 2, tiny 4)")
    ap.add_argument("--batch", type=int, default=None, help="valid prompts per batch (scripted 6, tiny 4)")
    ap.add_argument("--g", type=int, default=None, help="rollouts per prompt (scripted 4, tiny 8)")
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--val-prompts", type=int, default=None, help="validation prompts (scripted 16, tiny 24)")
    ap.add_argument("--gen-threads", type=int, default=4)
    ap.add_argument("--reward-workers", type=int, default=2)
    ap.add_argument("--median-s", type=float, default=2.5, help="median generation latency per request")
    ap.add_argument("--sigma", type=float, default=0.8, help="lognormal sigma of the latency")
    ap.add_argument("--train-fraction", type=float, default=0.25,
                    help="assumed training time per step, as a fraction of naive rollout time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/rollout.json")
    args = ap.parse_args()
    tiny = args.generator == "tiny"
    args.steps = args.steps or (4 if tiny else 2)
    args.batch = args.batch or (4 if tiny else 6)
    args.g = args.g or (8 if tiny else 4)
    args.val_prompts = args.val_prompts or (24 if tiny else 16)
    out_path = Path(args.out)
    result = json.loads(out_path.read_text()) if out_path.exists() else {}
    start = time.perf_counter()
    if args.simulate:
        from mimo.rl.rollout.simulate import report, simulate

        sim = simulate()
        print(report(sim))
        result["simulate"] = sim
    elif tiny:
        from _rollout_tiny import run_tiny

        real = run_tiny(args)
        print(format_table(real["table2"], f"tiny model ({platform.machine()}, 2-core CPU, transformers "
                                           f"{args.backend} backend x1, G={args.g}, batch {args.batch}, "
                                           f"{args.steps} steps)"))
        if real["table2_vs_oversampled"]:
            print(format_table(real["table2_vs_oversampled"], "the same runs against the over-sampled naive row "
                                                             "(DAPO's dynamic sampling)"))
        print(f"validation speedup (Table 3 shape): {real['table3']['validation_speedup']:.2f}x")
        result["tiny" if args.backend == "batch" else "tiny_inflight"] = {"args": vars(args), **real}
    else:
        real = run_real(args)
        print(format_table(real["table2"], f"real run ({platform.machine()}, 2-core CPU, scripted "
                                           f"generator x{args.gen_threads}, code sandbox rewards)"))
        print(f"validation speedup (Table 3 shape): {real['table3']['validation_speedup']:.2f}x")
        result["real"] = {"args": vars(args), **real}
    key = "simulate" if args.simulate else (("tiny" if args.backend == "batch" else "tiny_inflight")
                                            if tiny else "real")
    result.setdefault("seconds", {})[key] = round(time.perf_counter() - start, 1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
