"""A tiny stand-in for a training entrypoint: talks back through Dagster Pipes like
``mimo.train.*`` will (logs, one custom message per step, one materialization at the end)."""

import argparse
import os
import sys
import time

from mimo.cluster import open_job_pipes


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--step-s", type=float, default=0.0)  # sleep per step
    ap.add_argument("--fail-at", type=int, default=-1)  # exit 3 at this step
    ap.add_argument("--hang-once", default="")  # marker file: hang (sleep) when it is missing, creating it
    args = ap.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    print(f"job starting rank={rank} world={os.environ.get('WORLD_SIZE', '1')} "
          f"slurm_job={os.environ.get('SLURM_JOB_ID', '-')} python={sys.executable}", flush=True)
    if args.hang_once and not os.path.exists(args.hang_once):
        open(args.hang_once, "w").close()
        print("hanging", flush=True)
        time.sleep(600)
    with open_job_pipes() as pipes:
        pipes.log.info(f"training {args.steps} steps (extras {dict(pipes.extras)})")
        loss = 4.0
        for step in range(args.steps):
            if step == args.fail_at:
                print(f"step {step}: loss became NaN, giving up", flush=True)
                return 3
            loss *= 0.5
            print(f"step {step} loss {loss}", flush=True)
            pipes.report_custom_message({"step": step, "loss": loss, "rank": rank})
            time.sleep(args.step_s)
        pipes.report_asset_materialization(metadata={"steps": args.steps, "final_loss": loss},
                                           data_version=f"steps-{args.steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
