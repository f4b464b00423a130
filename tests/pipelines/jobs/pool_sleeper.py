"""Two assets in the ``gpu`` pool for run-health tests: one that holds its slot until killed, one
that finishes at once. ``python -m tests.pipelines.jobs.pool_sleeper ASSET`` materializes one on
the instance of ``DAGSTER_HOME``."""

import os
import sys
import time
from pathlib import Path

import dagster as dg


@dg.asset(pool="gpu")
def slot_holder(context: dg.AssetExecutionContext) -> None:
    """Writes ``$MIMO_TEST_MARKER`` once it holds the slot, then sleeps until killed."""
    Path(os.environ["MIMO_TEST_MARKER"]).write_text(str(os.getpid()))
    time.sleep(3600)


@dg.asset(pool="gpu")
def quick_step(context: dg.AssetExecutionContext) -> None:
    """Finishes at once: it starts only when a `gpu` slot is free."""
    context.log.info("quick_step ran")


defs = dg.Definitions(assets=[slot_holder, quick_step])

if __name__ == "__main__":
    asset = sys.argv[1]
    result = dg.materialize([slot_holder, quick_step], selection=[asset], instance=dg.DagsterInstance.get(),
                            raise_on_error=False)
    sys.exit(0 if result.success else 1)
