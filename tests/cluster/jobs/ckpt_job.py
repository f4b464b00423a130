"""A stand-in trainer for the live-job tests: one output directory, the trainer lock like the real
entrypoints, a checkpoint after every step and resume from it, a deterministic result.

``value`` is a hash chain over the steps, so any run that trains steps 0..N-1 once each (in one go or
resumed from a checkpoint) ends with the same value, and a run that trained a step twice or skipped
one would not be told apart by the value alone: ``progress.log`` (one line ``<step> <pid>`` per step
trained) shows that.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from contextlib import ExitStack

from mimo.cluster import open_job_pipes
from mimo.cluster.job import write_text_atomic
from mimo.cluster.locks import TrainerLockBusy, trainer_lock


def advance(value: str, step: int) -> str:
    return hashlib.sha256(f"{value}:{step}".encode()).hexdigest()[:16]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--step-s", type=float, default=0.0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    ckpt, progress = os.path.join(args.out, "ckpt.json"), os.path.join(args.out, "progress.log")
    with open_job_pipes() as pipes, ExitStack() as held:
        try:
            held.enter_context(trainer_lock(args.out))
        except TrainerLockBusy as e:
            print(f"error: {e}", file=sys.stderr, flush=True)
            return TrainerLockBusy.exit_code
        state = {"step": 0, "value": "seed"}
        if os.path.exists(ckpt):
            with open(ckpt, encoding="utf-8") as f:
                state = json.load(f)
        start, value = int(state["step"]), str(state["value"])
        pipes.log.info(f"pid {os.getpid()}: starting at step {start} of {args.steps}")
        with open(progress, "a", encoding="utf-8") as log:
            for step in range(start, args.steps):
                time.sleep(args.step_s)
                value = advance(value, step)
                write_text_atomic(ckpt, json.dumps({"step": step + 1, "value": value}))
                log.write(f"{step} {os.getpid()}\n")
                log.flush()
                pipes.report_custom_message({"step": step, "value": value})
        write_text_atomic(os.path.join(args.out, "final.json"), json.dumps({"steps": args.steps, "value": value}))
        pipes.report_asset_materialization(metadata={"value": value, "steps": args.steps, "started_at": start})
    return 0


if __name__ == "__main__":
    sys.exit(main())
