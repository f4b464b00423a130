"""Table 2 / Table 3 of the rollout bench on the real tiny model (``bench_rollout.py --generator tiny``).

One in-process :class:`~mimo.generate.transformers_backend.TransformersGenerator` (the tiny
profile's SFT checkpoint, ``--temperature`` (1.0), a ``max_tokens`` cap) shared by every configuration,
on the run's curated RL problems (``--pool curated``) or the hand-made pool of :mod:`_tiny_workload`; the rewards are the real ones
(Math-Verify, code in the bubblewrap sandbox, ``strict`` scheme) in reward worker processes. Every configuration draws the same seeded task stream, so a task yields
the same samples in every configuration (per-task seeds). The configurations run interleaved (step
1 of each, then step 2, ...) so that load from other jobs on the machine hits them alike; a call
abandoned by early termination is waited for after its step and that wait is added to the
configuration's rollout time (its next step would have waited for it). The policy is not updated between steps
(the workload stays the same for every configuration); the GRPO update time is measured on a copy
of the model for the naive batches and added to every configuration for the overall speedup.
Torch uses one thread: one core generates, the other runs the sandbox and Math-Verify.
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path
from typing import Any

from _tiny_workload import bench_problems


def _flags(c: bool, a: bool, e: bool, prune: bool = True) -> dict[str, bool]:
    return {"continuous": c, "async_reward": a, "early_termination": e, "prune_queued": prune}


CONFIGS = {"naive": _flags(False, False, False), "+continuous rollout": _flags(True, False, False),
           "+async reward": _flags(True, True, False), "+early termination": _flags(True, True, True)}
ABLATION = {"+early termination, no pruning": _flags(True, True, True, prune=False)}


def sft_model_from_state(state: str) -> str:
    """The ``sft_model`` checkpoint of a finished run (its catalog's latest artifact)."""
    import duckdb

    con = duckdb.connect(f"{state}/lake/_catalog/catalog.duckdb", read_only=True)
    try:
        row = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'sft_model'").fetchone()
    finally:
        con.close()
    if row is None:
        raise SystemExit(f"no sft_model in {state}'s catalog: pass --model")
    return str(Path(row[0]) / "model")


def curated_pool(state: str) -> list[Any]:
    """The run's curated RL problems (``rl_math_problems`` + ``rl_code_problems``): what RL trains on."""
    from _run_state import catalog_paths
    from mimo.rl.grpo.problems import load_problems

    paths = catalog_paths(state)
    files = [f"{paths[k]}/problems.parquet" for k in ("rl_math_problems", "rl_code_problems")
             if k in paths and Path(paths[k], "problems.parquet").exists()]
    if not files:
        raise SystemExit(f"no curated RL problems in {state}'s catalog: use --pool mixed")
    return load_problems(files)[0]


def task_stream(problems: list[Any], n: int, g: int, seed: int) -> list[Any]:
    """``n`` seeded tasks: the problems reshuffled every epoch (the same list for every config)."""
    from mimo.rl.rollout import tasks_from_problems

    rng = random.Random(seed)
    order: list[Any] = []
    while len(order) < n:
        epoch = list(problems)
        rng.shuffle(epoch)
        order += epoch
    return list(tasks_from_problems(order[:n], num_generations=g, seed=seed * 100_003))


def _train_seconds(model: Any, tokenizer: Any, generator: Any, batches: list[Any], g: int) -> float:
    """Mean wall time of one GRPO update (MiMo loss, mini-batches of half the batch) on a copy."""
    from mimo.rl.grpo import GRPOConfig
    from mimo.rl.grpo.trainer import GRPOTrainer, RolloutGroup

    times = []
    for batch in batches:
        if not batch.groups:
            continue
        n = len(batch.groups)
        cfg = GRPOConfig(num_generations=g, batch_prompts=n, mini_batch_prompts=max(1, n // 2) if n % 2 == 0 else n,
                         micro_batch_samples=16, learning_rate=1e-5, max_completion_length=512)
        trainer = GRPOTrainer(copy.deepcopy(model), cfg, pad_id=tokenizer.pad_token_id or 0)
        groups = [RolloutGroup(x.task.prompt_id, generator.encode_chat(x.task.messages),
                               [list(s.token_ids or [tokenizer.eos_token_id]) for s in x.samples], x.rewards)
                  for x in batch.groups]
        t0 = time.perf_counter()
        trainer.step(groups)
        times.append(time.perf_counter() - t0)
    return sum(times) / len(times) if times else 0.0


def occupancy_curve(model_dir: str, sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64), context: int = 96,
                    calls: int = 20) -> list[dict[str, float]]:
    """Cost of one decode step (one new token per sequence, KV cache over ``context`` tokens) against
    the number of sequences in flight: what an idle slot costs. Filling idle slots pays only where a
    step costs about the same for 1 or many sequences (a GPU); where tokens/s is flat in the batch
    size, wall time follows tokens generated whatever the occupancy."""
    import torch
    from transformers import AutoModelForCausalLM, DynamicCache

    import mimo.model  # noqa: F401 - registers MiMo with the Auto classes

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    rows = []
    with torch.inference_mode():
        for b in sizes:
            ids = torch.randint(3, model.config.vocab_size, (b, context))
            cache = DynamicCache(config=model.config)
            model(input_ids=ids, past_key_values=cache, use_cache=True)
            step = torch.randint(3, model.config.vocab_size, (b, 1))
            pos = torch.full((b, 1), context)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for _ in range(calls):
                    model(input_ids=step, position_ids=pos, past_key_values=cache, use_cache=True)
                    cache.crop(context - cache.get_seq_length())
                best = min(best, (time.perf_counter() - t0) / calls)
            rows.append({"sequences": b, "step_ms": round(best * 1e3, 3), "tokens_per_s": round(b / best, 1)})
    base = rows[0]["step_ms"]
    for r in rows:
        r["step_cost_vs_1"] = round(r["step_ms"] / base, 2)
    return rows


def run_tiny(args: argparse.Namespace) -> dict[str, Any]:
    """Every configuration on the same task stream, then validation (naive: the whole set
    generated, then scored, as in MiMo's Table 3; seamless: rewards overlap generation)."""
    import torch

    from mimo.generate.base import SamplingParams
    from mimo.generate.transformers_backend import TransformersGenerator
    from mimo.rl.rollout import MiMoRewardFn, RolloutConfig, SeamlessRolloutEngine
    from mimo.rl.rollout.metrics import aggregate, table2

    model = args.model or sft_model_from_state(args.state)
    torch.set_num_threads(1)
    curve = occupancy_curve(model)
    print("  decode step vs sequences in flight: " + ", ".join(
        f"{r['sequences']}: {r['step_ms']} ms ({r['tokens_per_s']:.0f} tok/s)" for r in curve), flush=True)
    problems = curated_pool(args.state) if args.pool == "curated" else bench_problems(seed=args.seed)
    tasks = task_stream(problems, args.prompts, args.g, args.seed)
    val_tasks = task_stream(problems, args.val_prompts, args.g, args.seed + 1)
    sampling = SamplingParams(temperature=args.temperature, top_p=1.0, max_tokens=args.max_tokens)
    if args.backend == "inflight":  # per-sequence scheduling with abort (in-flight batching)
        from mimo.generate.inflight_backend import InflightTransformersGenerator

        gen = InflightTransformersGenerator(model, sampling=sampling, max_sequences=args.g * args.micro_batch,
                                            device="cpu")
    else:
        gen = TransformersGenerator(model, device="cpu", batch_size=args.g * args.micro_batch)
    configs = {**CONFIGS, **(ABLATION if args.ablation else {})}
    rounds, oversampled = {}, None
    if args.naive_oversample > 1:  # DAPO's recipe generates 3x the train batch per round
        oversampled = f"naive, {args.naive_oversample}x over-sampled rounds"
        configs = {"naive": configs["naive"], oversampled: CONFIGS["naive"],
                   **{k: v for k, v in configs.items() if k != "naive"}}
        rounds[oversampled] = args.batch * args.naive_oversample
    engines = {}
    for name, flags in configs.items():
        cfg = RolloutConfig(**flags, sampling=sampling, micro_batch_groups=args.micro_batch,
                            round_prompts=rounds.get(name),
                            reward_workers=args.reward_workers, reward_timeout_s=60.0, on_exhausted="partial")
        engines[name] = SeamlessRolloutEngine(gen, MiMoRewardFn(code_scheme="strict"), cfg)
        engines[name].warm_up()
    its = {name: iter(tasks) for name in configs}
    batches: dict[str, list[Any]] = {name: [] for name in configs}
    waits = {name: 0.0 for name in configs}
    try:  # interleaved (step 1 of every config, then step 2, ...): machine load hits all alike
        for s in range(args.steps):
            for name, eng in engines.items():
                batches[name].append(eng.collect(its[name], args.batch))
                # a call abandoned by early termination cannot be interrupted: its next step would
                # wait for it, so the wait is charged to this config (as idle time)
                waits[name] += eng.workers.wait_idle()
            print(f"  step {s + 1}/{args.steps}: " + ", ".join(
                f"{n} {batches[n][-1].metrics.wall_s:.1f}s" for n in configs), flush=True)
    finally:
        for eng in engines.values():
            eng.close()
    rows, detail = {}, {}
    for name in configs:
        steps = [b.metrics for b in batches[name]]
        row = aggregate(steps)
        wall = row["rollout_s"] + waits[name]
        row.update(rollout_s=wall, waited_for_abandoned_s=waits[name],
                   idle_fraction=1 - sum(m.gen_busy_s for m in steps) / wall)
        rows[name], detail[name] = row, [m.to_dict() for m in steps]
        print(f"  {name}: {wall:.1f}s, valid {sum(m.valid_groups for m in steps)}, "
              f"waste {row['waste_fraction']:.1%} (scheduling {row['scheduling_waste_fraction']:.1%})", flush=True)
    train_step_s = _train_seconds(gen.hf_model, gen.tokenizer, gen, batches["naive"], args.g)
    t2 = table2(rows, "naive", train_step_s * args.steps)
    t2_oversampled = (table2({n: r for n, r in rows.items() if n != "naive"}, oversampled, train_step_s * args.steps)
                      if oversampled else None)
    val = {}
    for name, flags in (("naive", CONFIGS["naive"]), ("seamless", CONFIGS["+async reward"])):
        cfg = RolloutConfig(**flags, sampling=sampling, micro_batch_groups=args.micro_batch,
                            reward_workers=args.reward_workers)
        with SeamlessRolloutEngine(gen, MiMoRewardFn(code_scheme="strict"), cfg) as eng:
            eng.warm_up()
            val[name] = eng.validate(val_tasks).metrics.to_dict()
    gen.close()
    lengths = [s.completion_tokens for b in batches["naive"] for grp in b.groups for s in grp.samples]
    return {"table2": t2, "table2_vs_oversampled": t2_oversampled, "occupancy_curve": curve, "raw": rows, "steps": detail, "train_step_s": round(train_step_s, 3),
            "model": model,
            "problems": {"math": sum(p.domain == "math" for p in problems),
                         "code": sum(p.domain == "code" for p in problems)},
            "selected_lengths": {"n": len(lengths), "max": max(lengths, default=0),
                                 "mean": round(sum(lengths) / max(len(lengths), 1), 1)},
            "table3": {"validation_speedup": round(val["naive"]["wall_s"] / val["seamless"]["wall_s"], 3),
                       "naive": val["naive"], "seamless": val["seamless"]}}
