"""Benchmark: yield of each synthetic-data strategy (generated vs verified vs kept after 16-gram
decontamination) and its generation/verification throughput, on the tiny profile's inputs.

    python bench/bench_synthetic.py [--state .state] [--backend procedural] [--model PATH]
                                    [--base-url URL] [--out bench/results/synthetic.json]

Inputs: the latest ``filtered_corpus`` of the state's lake (run ``scripts/run.sh`` first), the toy
problems (600 math + 200 code, seed 0) plus ``data/tiny/extra_problems.jsonl``, 40 templated queries
plus ``data/tiny/general_queries.jsonl``; decontamination against MATH-500, AIME 24/25, HumanEval and
the toy held-out split. With the default procedural teacher the yields reflect its configured error
rates (15% wrong, 5% no answer, 3% truncated), not a model's skill; pass ``--backend transformers
--model PATH`` or ``--backend openai --base-url URL --model NAME`` to measure a real model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mimo.data.decontam import SFT_NGRAM, ContaminationIndex, decontaminate  # noqa: E402
from mimo.generate.config import GeneratorConfig, make_generator  # noqa: E402
from mimo.lake.catalog import Catalog  # noqa: E402
from mimo.lake.storage import Lake  # noqa: E402
from mimo.problems.benchmarks import load_benchmark  # noqa: E402
from mimo.problems.records import read_jsonl  # noqa: E402
from mimo.problems.toy import generate_toy_problems  # noqa: E402
from mimo.synth.general import GeneralConfig, generate_general, read_queries, template_queries  # noqa: E402
from mimo.synth.grounded import GroundedConfig, generate_grounded, select_documents  # noqa: E402
from mimo.synth.samples import sample_text, samples_to_table  # noqa: E402
from mimo.synth.solutions import SolutionConfig, generate_solutions  # noqa: E402
from mimo.generate.base import SamplingParams  # noqa: E402


def _corpus_rows(state: Path) -> list[dict]:
    catalog = Catalog(str(state / "lake/_catalog/catalog.duckdb"), create=False)
    rows = catalog.latest("filtered_corpus")
    if not rows:
        sys.exit(f"no filtered_corpus in {state}; run scripts/run.sh first")
    lake = Lake(str(state / "lake"))
    shards = sorted(p for p in lake.fs.ls(rows[0]["path"], detail=False) if p.endswith(".parquet"))
    return [r for s in shards for r in lake.read_parquet(s).to_pylist()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--state", default=str(ROOT / ".state"))
    ap.add_argument("--backend", default="procedural")
    ap.add_argument("--model", default="procedural-teacher")
    ap.add_argument("--base-url", default=None)
    ap.add_argument("--max-tokens", type=int, default=1024)
    ap.add_argument("--out", default=str(ROOT / "bench/results/synthetic.json"))
    args = ap.parse_args()

    problems = generate_toy_problems(600, 200, seed=0, heldout_fraction=0.2)
    problems += read_jsonl(ROOT / "data/tiny/extra_problems.jsonl")[0]
    queries = template_queries(40, seed=0) + read_queries(ROOT / "data/tiny/general_queries.jsonl")[0]
    eval_sets = {n: [p.prompt for p in load_benchmark(n)] for n in ("math500", "aime24", "aime25", "humaneval")}
    eval_sets["toy_heldout"] = [p.prompt for p in problems if p.split == "heldout"]
    index = ContaminationIndex.build(eval_sets, n=SFT_NGRAM)
    gen = make_generator(GeneratorConfig(backend=args.backend, model=args.model, base_url=args.base_url),
                         **({"problems": problems} if args.backend == "procedural" else {}))
    params = SamplingParams(temperature=0.7, top_p=0.95, max_tokens=args.max_tokens)
    results = {}
    runs = {
        "grounded_analysis": lambda: generate_grounded(
            gen, select_documents(_corpus_rows(Path(args.state)), GroundedConfig()),
            GroundedConfig(samples_per_document=2, params=params))[:2],
        "problem_solution": lambda: generate_solutions(
            gen, problems, SolutionConfig(samples_per_problem=4, max_kept_per_problem=2, params=params))[:2],
        "general_query": lambda: generate_general(gen, queries, GeneralConfig(params=params)),
    }
    for name, run in runs.items():
        t0 = time.perf_counter()
        samples, tally = run()
        seconds = time.perf_counter() - t0
        kept, report = decontaminate(samples_to_table(samples).to_pylist(), index, sample_text)
        results[name] = {**{k: v for k, v in tally.to_metadata().items() if k != "usage"},
                         "kept_after_decontamination": len(kept),
                         "removed_by_benchmark": dict(report.removed_by_benchmark),
                         "seconds_incl_verification": round(seconds, 2),
                         "samples_per_s": round(tally.generated / seconds, 1) if seconds else None,
                         "usage": tally.usage.to_metadata()}
    gen.close()
    out = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
           "generator": gen.describe(), "strategies": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"{'strategy':<18} {'prompts':>7} {'generated':>9} {'verified':>8} {'kept':>5} {'after decon':>11} {'s':>6}")
    for name, r in results.items():
        print(f"{name:<18} {r['prompts']:>7} {r['generated']:>9} {r['verified']:>8} {r['kept']:>5} "
              f"{r['kept_after_decontamination']:>11} {r['seconds_incl_verification']:>6}")
        print(f"   dropped: {r['dropped']}  decontam: {r['removed_by_benchmark']}")
    print(f"generator: {gen.describe()['backend']}:{gen.describe()['model']}  -> {args.out}")


if __name__ == "__main__":
    main()
