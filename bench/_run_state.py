"""A finished run's state for the benchmarks: its catalog's latest artifacts and its held-out problems."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mimo.problems.records import Problem


def catalog_paths(state: str | Path) -> dict[str, str]:
    """Asset key -> path of its latest artifact, read from ``<state>/lake/_catalog/catalog.duckdb``."""
    import duckdb

    con = duckdb.connect(f"{state}/lake/_catalog/catalog.duckdb", read_only=True)
    try:
        return dict(con.execute("SELECT asset_key, path FROM latest_artifacts").fetchall())
    finally:
        con.close()


def heldout_problems(paths: dict[str, str]) -> list[Problem]:
    """The ``heldout`` split of the run's ``evaluation_sets`` problems, in table order."""
    import pyarrow.parquet as pq

    from mimo.problems.records import table_to_problems

    table = pq.read_table(f"{paths['evaluation_sets']}/problems.parquet")
    return [p for p in table_to_problems(table) if p.split == "heldout"]


def load_run(state: str | Path) -> tuple[dict[str, str], list[Problem]]:
    """A finished run's latest artifact paths (:func:`catalog_paths`) and held-out problems."""
    paths = catalog_paths(state)
    return paths, heldout_problems(paths)
