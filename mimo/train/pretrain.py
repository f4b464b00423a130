"""Train one stage: ``python -m mimo.train.pretrain --config FILE`` (YAML or JSON TrainConfig).

Runs without Dagster; launched by the cluster resource it streams logs and metrics through
dagster-pipes (custom messages: one per logged step). The Dagster asset reports the single
materialization when the job is done.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import ExitStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="TrainConfig as YAML or JSON")
    args = parser.parse_args(argv)
    from mimo.train.config import load_train_config
    from mimo.train.loop import train

    try:
        cfg = load_train_config(args.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dagster-pipes warns when not launched by Dagster
        from mimo.cluster.job import open_job_pipes, pipes_reporter
        from mimo.cluster.locks import hold_trainer_lock

        pipes_cm = open_job_pipes()  # rank 0 talks to Dagster; other ranks get a no-op
    with pipes_cm as pipes, ExitStack() as held:
        if (busy := hold_trainer_lock(held, cfg.out_dir, pipes)) is not None:  # one trainer per directory
            return busy
        report = pipes_reporter(pipes, cfg.stage)  # called on rank 0 only
        try:
            result = train(cfg, report)
        except (ValueError, OSError, FloatingPointError) as e:  # OSError: disk full, I/O errors
            pipes.log.error(f"{cfg.stage} failed: {e}")
            print(f"error: {e}", file=sys.stderr)
            return 1
        if result.summary:  # rank 0 only
            pipes.report_custom_message({"event": "done", "final_dir": str(result.final_dir), **result.summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
