"""Reasoning problems: records, benchmark loaders and the procedural toy generator."""

from mimo.problems.benchmarks import (
    BENCHMARKS,
    load_aime24,
    load_aime25,
    load_benchmark,
    load_humaneval,
    load_math500,
    rows_to_problems,
)
from mimo.problems.records import (
    Problem,
    TestCase,
    problems_to_table,
    read_jsonl,
    table_to_problems,
    write_jsonl,
)
from mimo.problems.toy import CODE_TEMPLATES, MATH_TEMPLATES, generate_toy_problems

__all__ = [
    "BENCHMARKS", "CODE_TEMPLATES", "MATH_TEMPLATES", "Problem", "TestCase", "generate_toy_problems",
    "load_aime24", "load_aime25", "load_benchmark", "load_humaneval", "load_math500",
    "problems_to_table", "read_jsonl", "rows_to_problems", "table_to_problems", "write_jsonl",
]
