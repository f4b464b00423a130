"""Run GRPO: ``python -m mimo.rl.train --config FILE`` (YAML or JSON ``RLTrainConfig``).

Runs without Dagster; launched by the cluster resource it streams logs and per-step metrics through
dagster-pipes and ends with a ``done`` message naming the final model.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import ExitStack
from pathlib import Path


def load_rl_config(path: str | Path):
    """Read a YAML/JSON ``RLTrainConfig``; a wrong field or value is a ``ValueError`` naming it."""
    from mimo.rl.grpo.loop import RLTrainConfig
    from mimo.train.config import load_config_file

    return load_config_file(path, RLTrainConfig, "RL config")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="RLTrainConfig as YAML or JSON")
    args = parser.parse_args(argv)
    try:
        cfg = load_rl_config(args.config)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from mimo.rl.grpo.loop import train_rl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mimo.cluster.job import open_job_pipes, pipes_reporter
        from mimo.cluster.locks import hold_trainer_lock

        pipes_cm = open_job_pipes()
    with pipes_cm as pipes, ExitStack() as held:
        if (busy := hold_trainer_lock(held, cfg.out_dir, pipes)) is not None:  # one trainer per directory
            return busy
        report = pipes_reporter(pipes, cfg.stage)
        try:
            summary = train_rl(cfg, report)
        except (ValueError, OSError, FloatingPointError, RuntimeError) as e:
            pipes.log.error(f"{cfg.stage} failed: {e}")
            print(f"error: {e}", file=sys.stderr)
            return 1
        pipes.report_custom_message({"event": "done", **summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
