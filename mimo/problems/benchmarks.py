"""Loaders for the evaluation benchmarks: MATH-500, AIME 2024/2025, HumanEval and LiveCodeBench
(v5/v6 windows, see :mod:`mimo.problems.livecodebench`).

The local copies live in ``<shared>/benchmarks`` (see its README). The hub path reads the same
records through ``datasets.load_dataset`` and maps each row through the same converter.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from mimo.paths import shared_dir
from mimo.problems.records import Problem, TestCase

Row = dict[str, Any]


def default_benchmarks_dir() -> Path:
    """``<shared>/benchmarks`` (``MIMO_SHARED_DIR`` overrides the shared directory)."""
    return shared_dir() / "benchmarks"


def _read_rows(path: Path) -> Iterator[Row]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def math500_row(row: Row, index: int) -> Problem:
    """MATH-500 row (problem, solution, answer, subject, level, unique_id) -> Problem."""
    meta = {"subject": row.get("subject"), "level": row.get("level")}
    if row.get("unique_id"):
        meta["unique_id"] = row["unique_id"]
    return Problem(id=f"math500-{index:04d}", source="math500", domain="math",
                   prompt=row["problem"], answer=str(row["answer"]),
                   solution=row.get("solution"), split="test", metadata=meta)


def _aime_row(source: str) -> Callable[[Row, int], Problem]:
    def convert(row: Row, index: int) -> Problem:
        meta: dict[str, Any] = {}
        for key in ("id", "url", "year"):
            if row.get(key) is not None:
                meta[key] = row[key]
        # answers are integers 0..999; some copies store them as int, others as str
        return Problem(id=f"{source}-{index:04d}", source=source, domain="math",
                       prompt=row.get("problem") or row["question"], answer=str(row["answer"]).strip(),
                       solution=row.get("solution") or None, split="test", metadata=meta)
    convert.__doc__ = f"{source} row (problem, answer[, solution, url, id]) -> Problem."
    return convert


aime24_row = _aime_row("aime24")
aime25_row = _aime_row("aime25")


def humaneval_row(row: Row, index: int) -> Problem:
    """HumanEval row (task_id, prompt, canonical_solution, test, entry_point) -> Problem.

    The single test is the benchmark's ``test`` code followed by ``check(<entry_point>)``, meant
    to run after the candidate program.
    """
    entry = row["entry_point"]
    check = f"{row['test'].rstrip()}\n\n\ncheck({entry})\n"
    return Problem(id=f"humaneval-{index:04d}", source="humaneval", domain="code",
                   prompt=row["prompt"], tests=(TestCase(assert_=check, level=1),),
                   solution=row["prompt"] + row["canonical_solution"], split="test",
                   metadata={"entry_point": entry, "task_id": row.get("task_id")})


# name -> (local file, row converter, hub dataset name, hub split)
# Hub layouts assumed (as documented on the dataset cards):
#   HuggingFaceH4/MATH-500  split "test":  problem, solution, answer, subject, level, unique_id
#   HuggingFaceH4/aime_2024 split "train": id, problem, solution, answer, url, year
#   yentinglin/aime_2025    split "train": id, problem, solution, answer, url, year (answer may be int)
#   openai/openai_humaneval split "test":  task_id, prompt, canonical_solution, test, entry_point
BENCHMARKS: dict[str, tuple[str, Callable[[Row, int], Problem], str, str]] = {
    "math500": ("math500.jsonl", math500_row, "HuggingFaceH4/MATH-500", "test"),
    "aime24": ("aime24.jsonl", aime24_row, "HuggingFaceH4/aime_2024", "train"),
    "aime25": ("aime25.jsonl", aime25_row, "yentinglin/aime_2025", "train"),
    "humaneval": ("humaneval.jsonl.gz", humaneval_row, "openai/openai_humaneval", "test"),
}

BENCHMARK_NAMES = (*BENCHMARKS, "livecodebench", "livecodebench_v5", "livecodebench_v6")


def rows_to_problems(name: str, rows: Iterable[Row]) -> list[Problem]:
    """Convert benchmark rows (local or hub layout) to validated problems."""
    convert = BENCHMARKS[name][1]
    out = []
    for i, row in enumerate(rows):
        p = convert(dict(row), i)
        p.validate()
        out.append(p)
    return out


def _load_local(name: str, path: str | Path | None) -> list[Problem]:
    base = Path(path) if path is not None else default_benchmarks_dir()
    file = base / BENCHMARKS[name][0] if base.is_dir() else base
    if not file.exists():
        raise FileNotFoundError(f"{name}: benchmark file not found at {file}")
    return rows_to_problems(name, _read_rows(file))


def _load_hub(name: str) -> list[Problem]:
    from datasets import load_dataset  # optional dependency at runtime

    _, _, hub_name, split = BENCHMARKS[name]
    return rows_to_problems(name, load_dataset(hub_name, split=split))


def load_benchmark(name: str, source: str = "local", path: str | Path | None = None) -> list[Problem]:
    """Load a benchmark by name (``math500``, ``aime24``, ``aime25``, ``humaneval``,
    ``livecodebench``, ``livecodebench_v5``, ``livecodebench_v6``).

    ``source="local"`` reads ``path`` (the benchmarks directory or the file itself; default
    ``<shared>/benchmarks``); ``source="hub"`` uses ``datasets.load_dataset``.
    """
    from mimo.problems.livecodebench import WINDOWS, load_livecodebench

    if name in WINDOWS or name == "livecodebench":
        return load_livecodebench(name, source=source, path=path)
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARK_NAMES)})")
    if source == "local":
        return _load_local(name, path)
    if source == "hub":
        return _load_hub(name)
    raise ValueError(f"unknown source {source!r} (expected 'local' or 'hub')")


def load_math500(path: str | Path | None = None) -> list[Problem]:
    """MATH-500 from the local copy."""
    return load_benchmark("math500", path=path)


def load_aime24(path: str | Path | None = None) -> list[Problem]:
    """AIME 2024 (I+II) from the local copy."""
    return load_benchmark("aime24", path=path)


def load_aime25(path: str | Path | None = None) -> list[Problem]:
    """AIME 2025 (I+II) from the local copy."""
    return load_benchmark("aime25", path=path)


def load_humaneval(path: str | Path | None = None) -> list[Problem]:
    """HumanEval from the local copy."""
    return load_benchmark("humaneval", path=path)
