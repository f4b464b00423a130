"""Benchmark: training throughput of our loop (``mimo.train.loop.train``) vs a plain
``transformers.Trainer``, same tiny model, same packed data, same batch, same run, same threads.

    python bench/bench_pretrain.py [--state /tmp/st1] [--steps 15] [--warmup 3] [--repeats 3] \
        [--threads 2] [--compile-probe] [--out bench/results/pretrain.json]

Both sides train a fresh ``tiny`` MiMo (1 MTP layer, λ = 0.3, seed 0, vocab from the run's tokenizer)
on the run's stage-1 packed shard (seq 256, the last 8 rows held out), in the same row order, with
micro-batch 4 x 4 accumulation steps = 16 rows = 4096 tokens per optimizer step, fp32, AdamW(betas
(0.9, 0.95), eps 1e-8, wd 0.1, constant lr 1e-3), gradient clipping 1.0 and ``--threads`` intra-op
threads. Each side runs in its own subprocess (so peak RSS does not mix), sides alternate over
``--repeats`` rounds; the first ``--warmup`` optimizer steps are not timed. Timed window: from the end
of step ``warmup`` to the end of the last step, measured inside each loop (our reporter hook, the
Trainer's ``on_step_end`` callback); model building, final eval and saving fall outside it. The
machine may be shared: before each run the driver waits for other processes to go quiet, measures
the CPU other processes used during the run (/proc/stat minus the worker's own CPU time), reruns a
run during which they used more than ``--max-foreign`` cores, and summarizes uncontended runs only.

Trainer baseline: an ``IterableDataset`` yielding ``input_ids``/``position_ids``/``labels`` (labels =
input ids; the model shifts them and drops targets across documents, exactly as in our loop), the
default collator (``default_data_collator``: stacks equal-length rows, no padding), no eval, no
checkpoint saving, no logging, no tqdm, ``dataloader_num_workers=0``, ``optim="adamw_torch"``,
``lr_scheduler_type="constant"``. Differences kept as Trainer defaults: it exempts biases and norm
weights from weight decay, and passes ``num_items_in_batch`` (loss = sum over the 4 micro-batches /
token count, instead of our mean of micro-batch means) - neither changes the work done. The Trainer
needs ``accelerate``, which the project does not depend on: it is installed (no deps) into
``.venv-trainer/`` on first use and put on the Trainer worker's ``PYTHONPATH`` only.

``--compile-probe`` adds three processes that run our step (``TorchStepper``, the loop's) on
``torch.compile(model)``: the first compiled step (cold inductor cache, then warm), eager vs compiled
step time in alternation, and whether the processes end with identical weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TRAINER_DIR = ROOT / ".venv-trainer"
ACCELERATE = "accelerate==1.15.0"
SIDES = ("ours", "trainer")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latest_paths(state: str) -> dict[str, str]:
    """Artifact paths of the finished run in ``state`` (tokenizer, stage-1 packed data)."""
    import duckdb

    con = duckdb.connect(f"{state}/lake/_catalog/catalog.duckdb", read_only=True)
    rows = dict(con.execute("SELECT asset_key, path FROM latest_artifacts WHERE asset_key IN "
                            "('tokenizer', 'pretrain_data_stage1')").fetchall())
    con.close()
    return {"tokenizer": rows["tokenizer"], "data": rows["pretrain_data_stage1"]}


def ensure_accelerate() -> str:
    """``.venv-trainer`` with accelerate importable next to the project venv; returns the path."""
    probe = "import accelerate, transformers; from transformers import Trainer"
    env = dict(os.environ, PYTHONPATH=str(TRAINER_DIR))
    if subprocess.run([sys.executable, "-c", probe], check=False, env=env, capture_output=True).returncode == 0:
        return str(TRAINER_DIR)
    print(f"[bench] pip install --no-deps {ACCELERATE} into {TRAINER_DIR}", flush=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(TRAINER_DIR),
                    ACCELERATE], check=True)
    return str(TRAINER_DIR)


def window(times: list[tuple[float, float]], warmup: int, tokens_per_step: int) -> dict:
    """Throughput over steps ``warmup+1 .. last`` from per-step end stamps ``(wall, process CPU)``
    (index 0 = step 1); CPU seconds are less sensitive to other load on a shared machine."""
    timed, tokens = len(times) - warmup, (len(times) - warmup) * tokens_per_step
    seconds = times[-1][0] - times[warmup - 1][0]
    cpu = times[-1][1] - times[warmup - 1][1]
    steps = [round(b[0] - a[0], 4) for a, b in zip(times[warmup - 1:], times[warmup:])]
    return {"timed_steps": timed, "seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1), "tokens_per_cpu_s": round(tokens / cpu, 1),
            "tokens_per_s_fastest_step": round(tokens_per_step / min(steps), 1), "step_seconds": steps}


def _stamp() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


# ----------------------------------------------------------------------------- workers


def run_ours(args: argparse.Namespace, work: str) -> dict:
    """Our loop, unchanged: ``train(TrainConfig)``; the reporter hook stamps each step's end."""
    from mimo.train.config import TrainConfig
    from mimo.train.loop import train
    from mimo.train.schedule import BatchWarmup, LRSchedule, Segment, StepSchedule

    seq = json.loads((Path(args.data) / "meta.json").read_text())["seq_len"]
    cfg = TrainConfig(
        stage="bench", data_dirs=[args.data], out_dir=work, tokenizer=args.tokenizer,
        model={"preset": "tiny", "stage": 1}, stage_tokens=args.steps * args.batch * seq,
        micro_batch_size=args.micro, batch=BatchWarmup(start=args.batch, end=args.batch, warmup_tokens=0),
        lr=LRSchedule(start_lr=args.lr, segments=[Segment(tokens=1, kind="constant")]),
        mtp_weight=StepSchedule(points=[(0, 0.3)]), seed=0, checkpoint_every_steps=10**9,
        log_every_steps=1, eval_rows=args.holdout, threads=args.threads)
    times: list[tuple[float, float]] = []
    losses: list[float] = []
    rss_window: list[float] = []

    def report(event: str, payload: dict) -> None:
        if event == "metrics":
            times.append(_stamp())
            losses.append(payload["loss_main"])
            if len(times) == args.steps:
                rss_window.append(_rss_mb())

    train(cfg, report)
    return {**window(times, args.warmup, args.batch * seq), "loss_main_per_step": losses,
            "peak_rss_mb_training": round(rss_window[0], 1), "torch_threads": _threads()}


def run_trainer(args: argparse.Namespace, work: str) -> dict:
    """A plain ``transformers.Trainer`` on the same model, rows and optimizer settings."""
    import torch
    from transformers import AutoTokenizer, Trainer, TrainerCallback, TrainingArguments

    from mimo.data.packing import PackedDataset
    from mimo.model.presets import create_model

    torch.set_num_threads(args.threads)
    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0)
    seq = json.loads((Path(args.data) / "meta.json").read_text())["seq_len"]

    class Rows(torch.utils.data.IterableDataset):
        """Rows in our loop's order (same seed, same held-out tail), one example at a time."""

        def __iter__(self):
            data = PackedDataset([args.data], seed=0, holdout_rows=args.holdout)
            while True:
                tokens, positions, _ = data.next_batch(1)
                ids = torch.from_numpy(tokens[0])
                yield {"input_ids": ids, "position_ids": torch.from_numpy(positions[0]), "labels": ids.clone()}

    times: list[tuple[float, float]] = []
    rss_window: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, targs, state, control, **kw):
            times.append(_stamp())
            if len(times) == args.steps:
                rss_window.append(_rss_mb())

    targs = TrainingArguments(
        output_dir=work, max_steps=args.steps, per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.batch // args.micro, learning_rate=args.lr,
        lr_scheduler_type="constant", warmup_steps=0, optim="adamw_torch", adam_beta1=0.9, adam_beta2=0.95,
        adam_epsilon=1e-8, weight_decay=0.1, max_grad_norm=1.0, eval_strategy="no", save_strategy="no",
        logging_strategy="no", report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        dataloader_pin_memory=False, use_cpu=True, seed=0, remove_unused_columns=False)
    trainer = Trainer(model=model, args=targs, train_dataset=Rows(), callbacks=[Stamp()])
    trainer.train()
    return {**window(times, args.warmup, args.batch * seq), "peak_rss_mb_training": round(rss_window[0], 1),
            "torch_threads": _threads(), "optimizer": repr(trainer.optimizer.defaults)}


def run_compile_probe(args: argparse.Namespace, work: str) -> dict:
    """``torch.compile`` on our step (:class:`mimo.train.steppers.TorchStepper`, the loop's stepper):
    time of the first compiled step, eager vs compiled step time (alternating steps, one process,
    shared weights), and a hash of the weights after all steps, for a determinism check across
    processes."""
    import hashlib

    import torch
    from transformers import AutoTokenizer

    from mimo.data.packing import PackedDataset
    from mimo.model.presets import create_model
    from mimo.train.config import TrainConfig
    from mimo.train.distributed import DistContext
    from mimo.train.loop import _batch_tensors
    from mimo.train.schedule import LRSchedule, Segment

    torch.set_num_threads(args.threads)
    model = create_model("tiny", stage=1, tokenizer=AutoTokenizer.from_pretrained(args.tokenizer), seed=0).train()
    data = PackedDataset([args.data], seed=0, holdout_rows=args.holdout)
    cfg = TrainConfig(stage="probe", data_dirs=[args.data], out_dir=work, stage_tokens=1, micro_batch_size=args.micro,
                      lr=LRSchedule(start_lr=args.lr, segments=[Segment(tokens=10**12, kind="constant")]))
    from mimo.train.steppers import TorchStepper

    stepper = TorchStepper(model, list(model.parameters()), cfg, DistContext())
    compiled = torch.compile(model)

    def step(runner: Any) -> float:
        t0 = time.perf_counter()
        stepper.runner = runner
        stepper.begin_step(args.batch, args.lr)
        for i in range(stepper.micro_batches):
            ids, pos, labels = _batch_tensors(data, args.micro)
            stepper.micro_step(i, 0.3, input_ids=ids, position_ids=pos, labels=labels)
        stepper.finish_step()
        return time.perf_counter() - t0

    first = step(compiled)
    eager, comp = [], []
    for _ in range(args.steps - 1):
        eager.append(step(model))
        comp.append(step(compiled))
    digest = hashlib.sha1(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()
    e, c = statistics.median(eager[args.warmup:]), statistics.median(comp[args.warmup:])
    return {"first_compiled_step_s": round(first, 2), "median_eager_step_s": round(e, 4),
            "median_compiled_step_s": round(c, 4), "speedup": round(e / c, 3), "weights_sha1": digest}


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def worker(side: str, args: argparse.Namespace, result: str) -> None:
    with tempfile.TemporaryDirectory(prefix=f"bench-pretrain-{side}-") as work:
        out = {"ours": run_ours, "trainer": run_trainer, "compile": run_compile_probe}[side](args, work)
    out["peak_rss_mb"] = round(_rss_mb(), 1)
    Path(result).write_text(json.dumps(out))


# ----------------------------------------------------------------------------- driver


def machine_info(threads: int) -> dict:
    import torch
    import transformers

    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "accelerate": ACCELERATE, "cpu": cpu,
            "cores": len(os.sched_getaffinity(0)), "torch_threads": threads,
            "load_average_1m_at_end": round(os.getloadavg()[0], 2)}


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes; /proc/stat, idle and iowait excluded)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, threshold: float = 0.1) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` cores over 3 s; returns
    the busy cores last seen."""
    deadline = time.monotonic() + max_wait
    while True:
        b0, t0 = busy_cpu_seconds(), time.monotonic()
        time.sleep(3)
        busy = (busy_cpu_seconds() - b0) / (time.monotonic() - t0)
        if busy < threshold or time.monotonic() > deadline:
            return round(busy, 2)
        print(f"[bench] machine busy ({busy:.2f} cores used by others); waiting", flush=True)
        time.sleep(10)


def spawn(side: str, args: argparse.Namespace, trainer_path: str, work: str, i: int) -> dict:
    """One worker subprocess; adds the CPU load of *other* processes during it (``foreign_cores``)."""
    result = Path(work) / f"{side}-{i}.json"
    cmd = [sys.executable, __file__, "--worker", side, str(result), "--data", args.data,
           "--tokenizer", args.tokenizer, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--threads", str(args.threads), "--micro", str(args.micro), "--batch", str(args.batch),
           "--lr", str(args.lr), "--holdout", str(args.holdout)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TOKENIZERS_PARALLELISM="false")
    if side == "compile":
        env["TORCHINDUCTOR_CACHE_DIR"] = str(Path(work) / "inductor-cache")  # cold in round 0, warm after
    if side == "trainer":
        env["PYTHONPATH"] = os.pathsep.join(p for p in (trainer_path, env.get("PYTHONPATH")) if p)
    idle_before = wait_for_quiet(args.max_wait)
    b0, t0 = busy_cpu_seconds(), time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{side} worker failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    own = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    foreign = max(0.0, busy_cpu_seconds() - b0 - own) / wall
    return {**json.loads(result.read_text()), "process_seconds": round(wall, 1), "others_cores_before": idle_before,
            "foreign_cores": round(foreign, 3), "contended": foreign > args.max_foreign}


def compile_probe(args: argparse.Namespace, trainer_path: str) -> dict:
    """Three compile-probe processes sharing one inductor cache (cold, warm, warm): timings and whether
    they end with identical weights (eager training does, across processes and thread counts)."""
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-compile-") as work:
        runs = [spawn("compile", args, trainer_path, work, i) for i in range(3)]
    for r in runs:
        print(f"[bench] compile probe: first step {r['first_compiled_step_s']} s, eager "
              f"{r['median_eager_step_s']} s/step, compiled {r['median_compiled_step_s']} s/step "
              f"({r['speedup']}x), weights {r['weights_sha1'][:12]}", flush=True)
    same = len({r["weights_sha1"] for r in runs}) == 1
    warm_same = runs[1]["weights_sha1"] == runs[2]["weights_sha1"]
    print(f"[bench] compile probe: identical weights across the 3 processes: {same} (the 2 warm ones: {warm_same})")
    return {"runs": runs, "cold_compile_first_step_s": runs[0]["first_compiled_step_s"],
            "warm_cache_first_step_s": runs[1]["first_compiled_step_s"],
            "median_speedup": statistics.median(r["speedup"] for r in runs), "deterministic_across_processes": same,
            "warm_runs_identical": warm_same}


def summarize(runs: list[dict]) -> dict:
    tps = [r["tokens_per_s"] for r in runs]
    return {"median_tokens_per_s": statistics.median(tps), "best_tokens_per_s": max(tps),
            "median_tokens_per_cpu_s": statistics.median(r["tokens_per_cpu_s"] for r in runs),
            "tokens_per_s_fastest_step": max(r["tokens_per_s_fastest_step"] for r in runs),
            "median_step_seconds": statistics.median(s for r in runs for s in r["step_seconds"]),
            "peak_rss_mb_training": max(r["peak_rss_mb_training"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "runs": runs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default="/tmp/st1", help="state dir of a finished tiny run")
    ap.add_argument("--data", help="packed shard dir (default: the run's pretrain_data_stage1)")
    ap.add_argument("--tokenizer", help="tokenizer dir (default: the run's tokenizer)")
    ap.add_argument("--steps", type=int, default=15, help="optimizer steps per run, warm-up included")
    ap.add_argument("--warmup", type=int, default=3, help="first steps left out of the timing")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; each runs both sides once")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--micro", type=int, default=4, help="rows per micro-batch")
    ap.add_argument("--batch", type=int, default=16, help="rows per optimizer step")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--holdout", type=int, default=8, help="rows held out at the end (as in the tiny run)")
    ap.add_argument("--max-foreign", type=float, default=0.15,
                    help="a run during which other processes used more cores than this is contended")
    ap.add_argument("--retries", type=int, default=2, help="reruns of a contended run")
    ap.add_argument("--compile-probe", action="store_true",
                    help="also time torch.compile on our step and check it is deterministic (3 more processes)")
    ap.add_argument("--max-wait", type=float, default=300, help="seconds to wait for a quiet machine per run")
    ap.add_argument("--out", default=str(ROOT / "bench/results/pretrain.json"))
    ap.add_argument("--worker", nargs=2, metavar=("SIDE", "RESULT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], args, args.worker[1])
        return 0
    if not 1 <= args.warmup < args.steps or args.batch % args.micro:
        ap.error("need 1 <= --warmup < --steps and --batch a multiple of --micro")
    paths = latest_paths(args.state) if not (args.data and args.tokenizer) else {}
    args.data, args.tokenizer = args.data or paths["data"], args.tokenizer or paths["tokenizer"]
    trainer_path = ensure_accelerate()
    runs: dict[str, list[dict]] = {s: [] for s in SIDES}
    with tempfile.TemporaryDirectory(prefix="bench-pretrain-") as work:
        for i in range(args.repeats):
            for side in (SIDES if i % 2 == 0 else SIDES[::-1]):
                for attempt in range(1 + args.retries):
                    r = spawn(side, args, trainer_path, work, i)
                    print(f"[bench] round {i + 1} {side:<8} {r['tokens_per_s']:>8.1f} tok/s  peak RSS "
                          f"{r['peak_rss_mb']:.0f} MiB  ({r['process_seconds']} s process, other load "
                          f"{r['foreign_cores']} cores{', CONTENDED' if r['contended'] else ''})", flush=True)
                    if not r["contended"]:
                        break
                runs[side].append(r)
    clean = {s: [r for r in runs[s] if not r["contended"]] for s in SIDES}
    dropped = {s: len(runs[s]) - len(clean[s]) for s in SIDES}
    if all(clean.values()):
        runs = clean
    else:
        print("[bench] WARNING: every run of a side was contended; the numbers below include other load")
    seq = json.loads((Path(args.data) / "meta.json").read_text())["seq_len"]
    sides = {s: summarize(runs[s]) for s in SIDES}
    ratios = {m: round(sides["ours"][m] / sides["trainer"][m], 3)
              for m in ("median_tokens_per_s", "median_tokens_per_cpu_s", "tokens_per_s_fastest_step")}
    if len(runs["ours"]) == len(runs["trainer"]):  # rounds run back to back: robust to slow drifts
        ratios["median_of_round_ratios"] = round(statistics.median(
            o["tokens_per_s"] / t["tokens_per_s"] for o, t in zip(runs["ours"], runs["trainer"])), 3)
    result = {"setup": {"model": "tiny", "seq_len": seq, "micro_batch": args.micro, "batch_rows": args.batch,
                        "tokens_per_step": args.batch * seq, "steps": args.steps, "warmup_steps": args.warmup,
                        "repeats": args.repeats, "data": args.data, "tokenizer": args.tokenizer,
                        "max_foreign_cores": args.max_foreign, "contended_runs_dropped": dropped},
              "ours": sides["ours"], "trainer": sides["trainer"], "ratio_ours_vs_trainer": ratios,
              "machine": machine_info(args.threads)}
    print(f"\n{'side':<8} {'median tok/s':>13} {'best tok/s':>11} {'tok/CPU-s':>10} {'fastest step tok/s':>19} "
          f"{'s/step':>7} {'peak RSS train MiB':>19} {'peak RSS MiB':>13}")
    for s in SIDES:
        d = sides[s]
        print(f"{s:<8} {d['median_tokens_per_s']:>13.1f} {d['best_tokens_per_s']:>11.1f} "
              f"{d['median_tokens_per_cpu_s']:>10.1f} {d['tokens_per_s_fastest_step']:>19.1f} "
              f"{d['median_step_seconds']:>7.3f} {d['peak_rss_mb_training']:>19.0f} {d['peak_rss_mb']:>13.0f}")
    print("ours / trainer: " + ", ".join(f"{m} {r:.3f}x" for m, r in ratios.items()))
    if args.compile_probe:
        result["compile_probe"] = compile_probe(args, trainer_path)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
