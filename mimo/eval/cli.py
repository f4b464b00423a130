"""``mimo eval``: evaluate any checkpoint on any problem file, with the code the evaluation assets use.

    mimo eval --model CKPT_DIR --problems FILE.jsonl|FILE.parquet [--split heldout] [--samples 4]
              [--temperature 0.6] [--top-p 0.95] [--max-tokens 512] [--max-problems N] [--seed 0]
              [--backend transformers|vllm] [--batch-size 64] [--out DIR] [--json]

Prints pass@1 with its 95 % interval (problem as the unit), pass@k for every k up to ``--samples``
that is a power of two, and pass@1 per difficulty level when the problems carry one. ``--out``
keeps the per-sample parquet and a summary.json there, and a rerun resumes from it. Malformed
problem lines are counted and reported, never silently dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

from mimo.problems.records import Problem


def load_problem_file(path: str | Path) -> tuple[list[Problem], list[tuple[int, str]]]:
    """Problems of a problem-record JSONL or parquet file, and ``(line, reason)`` per malformed record."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"problem file {path} does not exist")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        from mimo.problems.records import table_to_problems

        try:
            return table_to_problems(pq.read_table(path)), []
        except Exception as e:  # noqa: BLE001 - any unreadable table is the user's input error
            raise ValueError(f"cannot read problem parquet {path}: {type(e).__name__}: {e}") from None
    from mimo.problems.records import read_jsonl

    return read_jsonl(path)


def select_problems(problems: list[Problem], split: str | None, cap: int, seed: int) -> list[Problem]:
    """Problems of ``split`` (all when None), capped by a seeded sample kept in id order."""
    chosen = [p for p in problems if split is None or p.split == split]
    if cap and len(chosen) > cap:
        chosen = sorted(random.Random(seed).sample(chosen, cap), key=lambda p: p.id)
    return chosen


def pass_ks(n: int) -> tuple[int, ...]:
    """1, 2, 4, ... up to ``n``, and ``n`` itself."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return tuple(sorted(set(ks) | {n}))


def evaluate_file(args: argparse.Namespace) -> dict[str, Any]:
    """Run the evaluation the arguments describe; the summary dict (also written to ``--out``)."""
    from mimo.eval.runner import EvalSettings, run_evaluation
    from mimo.eval.stats import per_group, rounded
    from mimo.generate.base import SamplingParams
    from mimo.generate.config import GeneratorConfig, make_generator

    problems, bad = load_problem_file(args.problems)
    chosen = select_problems(problems, args.split, args.max_problems, args.seed)
    if not chosen:
        raise ValueError(f"no problems to evaluate in {args.problems}"
                         + (f" with split {args.split!r}" if args.split else "")
                         + f" ({len(problems)} valid, {len(bad)} malformed)")
    if not (Path(args.model) / "config.json").exists() and args.backend == "transformers":
        raise ValueError(f"{args.model} is not a saved model (no config.json)")
    settings = EvalSettings(n=args.samples, sampling=SamplingParams(
        temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens, seed=args.seed),
        ks=pass_ks(args.samples), reward_workers=args.reward_workers)
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="mimo-eval-"))
    run = run_evaluation(chosen, lambda: make_generator(GeneratorConfig(
        backend=args.backend, model=str(args.model), batch_size=args.batch_size, device=args.device)),
        settings, work / "chunks", benchmark=Path(args.problems).stem, show_progress=not args.json)
    levels = {p.id: p.metadata.get("level", p.domain) for p in chosen}  # unleveled problems: their domain
    has_levels = any(p.metadata.get("level") is not None for p in chosen)
    scored = [r for r in run.rows if r["status"] != "generation_error"]
    summary = {"model": str(args.model), "problems_file": str(args.problems), "split": args.split,
               "problems": len(chosen), "malformed_records": len(bad), "samples_per_problem": args.samples,
               "sampling": settings.sampling.to_dict(), "metrics": run.metrics,
               "per_level": {k: rounded(v) for k, v in per_group(scored, levels).items()} if has_levels else {},
               "seconds": round(run.seconds, 1)}
    if args.out:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from mimo.eval.evaluate import SAMPLE_SCHEMA

        pq.write_table(pa.Table.from_pylist(run.rows, schema=SAMPLE_SCHEMA), work / "samples.parquet")
        (work / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable lines ``mimo eval`` prints."""
    m = s["metrics"]
    lo, hi = m.get("pass@1_ci95", [None, None])
    lines = [f"{s['model']} on {s['problems_file']}: {s['problems']} problems x {s['samples_per_problem']} samples"
             + (f" ({s['malformed_records']} malformed records skipped)" if s["malformed_records"] else ""),
             f"pass@1 {100 * m['pass@1']:.1f} %  (95 % interval {100 * lo:.1f} to {100 * hi:.1f})"]
    lines += [f"pass@{k} {100 * m[f'pass@{k}']:.1f} %" for k in sorted(int(key[5:]) for key in m
                                                                  if key.startswith("pass@") and key[5:].isdigit())
              if k > 1]
    for level, v in s["per_level"].items():
        lines.append(f"  {'level ' if str(level).isdigit() else ''}{level}: pass@1 {100 * v['mean']:.1f} % ({100 * v['lo']:.1f} to {100 * v['hi']:.1f}), "
                     f"{v['n']} problems")
    return "\n".join(lines)


def add_eval_parser(sub: Any) -> None:
    """Register ``mimo eval`` on the ``mimo`` command's subparsers."""
    p = sub.add_parser("eval", help="evaluate a checkpoint on a problem file (pass@1 with its interval, pass@k)")
    p.add_argument("--model", required=True, help="checkpoint directory (a saved model) or a served model name")
    p.add_argument("--problems", required=True, help="problem-record JSONL or parquet")
    p.add_argument("--split", default=None, help="only problems of this split (e.g. heldout)")
    p.add_argument("--samples", type=int, default=4, help="samples per problem (default 4)")
    p.add_argument("--temperature", type=float, default=0.6)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--max-problems", type=int, default=0, help="cap (a seeded sample); 0 = all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--reward-workers", type=int, default=2)
    p.add_argument("--out", default=None, help="keep samples.parquet and summary.json here (a rerun resumes)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(fn=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    if args.samples < 1:
        print("mimo eval: --samples must be >= 1", file=sys.stderr)
        return 2
    try:
        summary = evaluate_file(args)
    except ValueError as e:
        print(f"mimo eval: {e}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else format_summary(summary))
    return 0
