"""Reasoning problem records shared by SFT, RL and evaluation.

A :class:`Problem` is either a math problem (checked against ``answer``) or a code problem
(checked by running ``tests``). Records round-trip through JSON lines and pyarrow tables.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

DOMAINS = ("math", "code")
SPLITS = ("train", "test", "heldout")


@dataclass(frozen=True)
class TestCase:
    """One code test: stdin/expected stdout, or an assert run after the program."""

    __test__ = False  # not a pytest class

    input: str | None = None
    output: str | None = None
    assert_: str | None = None
    level: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict; ``assert_`` is stored under the key ``"assert"``."""
        return {"input": self.input, "output": self.output, "assert": self.assert_, "level": self.level}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TestCase:
        """Inverse of :meth:`to_dict` (accepts ``"assert"`` or ``"assert_"``)."""
        if not isinstance(d, dict):
            raise ValueError(f"test case must be an object, got {type(d).__name__}")
        return cls(input=d.get("input"), output=d.get("output"),
                   assert_=d.get("assert", d.get("assert_")), level=int(d.get("level", 1)))

    def validate(self) -> None:
        """Raise ``ValueError`` when the test has neither input/output nor an assert."""
        if self.assert_ is None and self.output is None:
            raise ValueError("test case has neither expected output nor assert")
        if self.level < 1:
            raise ValueError(f"test case level must be >= 1, got {self.level}")


@dataclass(frozen=True)
class Problem:
    """A math or code reasoning problem."""

    id: str
    source: str
    domain: str
    prompt: str
    answer: str | None = None
    tests: tuple[TestCase, ...] = ()
    solution: str | None = None
    split: str = "test"
    metadata: dict = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the record."""
        return {
            "id": self.id, "source": self.source, "domain": self.domain, "prompt": self.prompt,
            "answer": self.answer, "tests": [t.to_dict() for t in self.tests],
            "solution": self.solution, "split": self.split, "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        """Build a record from :meth:`to_dict` output; raises ``ValueError`` on missing keys."""
        if not isinstance(d, dict):
            raise ValueError(f"record must be an object, got {type(d).__name__}")
        missing = [k for k in ("id", "source", "domain", "prompt") if k not in d]
        if missing:
            raise ValueError(f"record missing keys: {', '.join(missing)}")
        tests = d.get("tests") or []
        if not isinstance(tests, list):
            raise ValueError("tests must be a list")
        answer = d.get("answer")
        return cls(
            id=str(d["id"]), source=str(d["source"]), domain=str(d["domain"]), prompt=d["prompt"],
            answer=None if answer is None else str(answer),
            tests=tuple(TestCase.from_dict(t) for t in tests),
            solution=d.get("solution"), split=str(d.get("split", "test")),
            metadata=dict(d.get("metadata") or {}),
        )

    def validate(self) -> None:
        """Raise ``ValueError`` with a clear message when the record is malformed."""
        if not self.id:
            raise ValueError("empty id")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"{self.id}: empty prompt")
        if self.domain not in DOMAINS:
            raise ValueError(f"{self.id}: unknown domain {self.domain!r} (expected one of {DOMAINS})")
        if self.split not in SPLITS:
            raise ValueError(f"{self.id}: unknown split {self.split!r} (expected one of {SPLITS})")
        if self.domain == "math" and (self.answer is None or not str(self.answer).strip()):
            raise ValueError(f"{self.id}: math problem without answer")
        if self.domain == "code":
            if not self.tests:
                raise ValueError(f"{self.id}: code problem without tests")
            for i, t in enumerate(self.tests):
                try:
                    t.validate()
                except ValueError as e:
                    raise ValueError(f"{self.id}: test {i}: {e}") from None


def read_jsonl(path: str | Path) -> tuple[list[Problem], list[tuple[int, str]]]:
    """Read valid problems and ``(line number, reason)`` for each malformed line (1-based)."""
    good: list[Problem] = []
    bad: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                p = Problem.from_dict(json.loads(line))
                p.validate()
            except json.JSONDecodeError as e:
                bad.append((lineno, f"bad JSON: {e.msg}"))
            except (ValueError, TypeError, KeyError) as e:
                bad.append((lineno, str(e)))
            else:
                good.append(p)
    return good, bad


def write_jsonl(problems: Iterable[Problem], path: str | Path) -> None:
    """Write problems as JSON lines atomically (temp file in the same dir, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for p in problems:
                f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


TABLE_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("domain", pa.string()), ("prompt", pa.string()),
    ("answer", pa.string()), ("tests", pa.string()), ("solution", pa.string()),
    ("split", pa.string()), ("metadata", pa.string()),
])


def problems_to_table(problems: Iterable[Problem]) -> pa.Table:
    """A pyarrow table of problems; ``tests`` and ``metadata`` are JSON string columns."""
    rows = [p.to_dict() for p in problems]
    cols: dict[str, list[Any]] = {name: [] for name in TABLE_SCHEMA.names}
    for r in rows:
        for name in TABLE_SCHEMA.names:
            v = r[name]
            cols[name].append(json.dumps(v, ensure_ascii=False) if name in ("tests", "metadata") else v)
    return pa.table(cols, schema=TABLE_SCHEMA)


def table_to_problems(table: pa.Table) -> list[Problem]:
    """Inverse of :func:`problems_to_table`."""
    out = []
    for r in table.to_pylist():
        r = dict(r)
        r["tests"] = json.loads(r["tests"]) if r.get("tests") else []
        r["metadata"] = json.loads(r["metadata"]) if r.get("metadata") else {}
        out.append(Problem.from_dict(r))
    return out
