"""Peak memory and wall time of each data stage on the tiny profile.

    python bench/bench_stage_memory.py [--out bench/results/stage_memory.json]

Runs the README's run path (``python -m pipelines.run``) in a fresh temporary state directory,
then reads each stage's ``rss_at_start_mb`` / ``peak_rss_mb`` (process plus extraction workers,
sampled every 50 ms by ``assets.common.MemoryMeter``) and run times from the catalog. The baseline
is the RSS of the same process when the stage starts (imports, Dagster, torch).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from mimo.paths import state_env

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(REPO / "bench/results/stage_memory.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mimo-bench-") as state:
        env = state_env(state)
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pipelines.run"], cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        con = duckdb.connect(f"{state}/lake/_catalog/catalog.duckdb", read_only=True)
        rows = con.execute("""SELECT asset_key, partition, row_count, metadata->>'rss_at_start_mb' AS start_mb,
                                     metadata->>'peak_rss_mb' AS peak_mb
                              FROM artifacts WHERE asset_key NOT LIKE '%/shard' ORDER BY created_at""").fetchall()
    stages = [{"asset": a, "partition": p, "rows": n, "rss_at_start_mb": float(s), "peak_rss_mb": float(m),
               "stage_increase_mb": round(float(m) - float(s), 1)} for a, p, n, s, m in rows]
    print(f"{'stage':<22} {'partition':<17} {'rows':>5} {'start MiB':>10} {'peak MiB':>9} {'+MiB':>7}")
    for s in stages:
        print(f"{s['asset']:<22} {s['partition'] or '-':<17} {s['rows']:>5} {s['rss_at_start_mb']:>10.1f} "
              f"{s['peak_rss_mb']:>9.1f} {s['stage_increase_mb']:>7.1f}")
    print(f"whole tiny run: {wall:.0f} s wall")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump({"stages": stages, "tiny_run_wall_s": round(wall, 1), "cpus": os.cpu_count()}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
