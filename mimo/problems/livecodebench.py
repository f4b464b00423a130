"""LiveCodeBench (code generation) in its published row format, as :class:`Problem` records.

A row (``livecodebench/code_generation_lite``) has ``question_title``, ``question_content``,
``platform``, ``question_id``, ``contest_date`` (ISO), ``starter_code``, ``difficulty``,
``public_test_cases`` and ``private_test_cases`` (a JSON list of ``{input, output, testtype}``;
private ones are usually stored as base64(zlib(pickle(json string)))) and ``metadata`` (JSON, with
``func_name`` for LeetCode-style problems).

Tests become our :class:`TestCase`: ``stdin`` tests as input/expected stdout, ``functional`` tests
as an assert that calls ``Solution().<func_name>(*args)`` with the JSON-decoded arguments (one per
line). MiMo reports v5 (contests 2024-08-01 to 2025-02-01) and v6 (2025-02-01 to 2025-05-01).
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from mimo.problems.records import Problem, TestCase

HUB_REPO = "livecodebench/code_generation_lite"
HUB_FILES = ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl")
# name -> [start, end) contest-date window (MiMo-7B's tables)
WINDOWS: dict[str, tuple[date, date]] = {
    "livecodebench_v5": (date(2024, 8, 1), date(2025, 2, 1)),
    "livecodebench_v6": (date(2025, 2, 1), date(2025, 5, 1)),
}
LOCAL_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "livecodebench" / "sample.jsonl"


class _NoGlobalsUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from benchmark data")


def decode_test_cases(field: str | list | None) -> list[dict[str, Any]]:
    """The test list of a ``*_test_cases`` field: a JSON string, a list, or the compressed form."""
    if field is None or field == "":
        return []
    if isinstance(field, list):
        return field
    text = field.strip()
    if text.startswith("["):
        return json.loads(text)
    try:
        raw = zlib.decompress(base64.b64decode(text))
        payload = _NoGlobalsUnpickler(io.BytesIO(raw)).load()
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as e:
        raise ValueError(f"undecodable test cases ({type(e).__name__}: {e})") from None
    return json.loads(payload) if isinstance(payload, (str, bytes)) else payload


def _functional_assert(func_name: str, args_text: str, expected: str) -> str:
    return ("import json as _lcb_json\n"
            f"_lcb_args = [_lcb_json.loads(_l) for _l in {args_text!r}.splitlines() if _l.strip()]\n"
            f"assert Solution().{func_name}(*_lcb_args) == _lcb_json.loads({expected!r})\n")


def _prompt(row: dict[str, Any]) -> str:
    body = row["question_content"].strip()
    starter = (row.get("starter_code") or "").strip()
    if starter:
        starter = f"from typing import *\n\n{starter}"  # the annotations (List[int], ...) need typing
        return (f"{body}\n\nComplete the following starter code and return the whole program in one "
                f"```python``` block:\n```python\n{starter}\n```")
    return (f"{body}\n\nWrite a Python program that reads the input from stdin and writes the answer to "
            "stdout, in one ```python``` block.")


def contest_day(row: dict[str, Any]) -> date:
    """The contest date of a row (``contest_date`` as ISO date or datetime)."""
    return date.fromisoformat(str(row["contest_date"])[:10])


def livecodebench_row(row: dict[str, Any], index: int, source: str = "livecodebench") -> Problem:
    """One LiveCodeBench row -> a code :class:`Problem` (public then private tests, level 1)."""
    meta = row.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.strip() else {}
    tests: list[TestCase] = []
    for case in decode_test_cases(row.get("public_test_cases")) + decode_test_cases(row.get("private_test_cases")):
        kind = case.get("testtype", "stdin")
        if kind == "stdin":
            tests.append(TestCase(input=case["input"], output=case["output"]))
        elif kind == "functional":
            if not meta.get("func_name"):
                raise ValueError(f"{row.get('question_id')}: functional test without metadata.func_name")
            tests.append(TestCase(assert_=_functional_assert(meta["func_name"], case["input"], case["output"])))
        else:
            raise ValueError(f"{row.get('question_id')}: unknown testtype {kind!r}")
    return Problem(
        id=f"{source}-{row['question_id']}", source=source, domain="code", prompt=_prompt(row),
        tests=tuple(tests), split="test",
        metadata={"question_id": str(row["question_id"]), "title": row.get("question_title"),
                  "platform": row.get("platform"), "difficulty": row.get("difficulty"),
                  "contest_date": str(contest_day(row)), "func_name": meta.get("func_name")})


def rows_in_window(rows: Iterable[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """Rows whose contest date falls in the window of ``name`` (all rows for ``livecodebench``)."""
    if name not in WINDOWS:
        return list(rows)
    start, end = WINDOWS[name]
    return [r for r in rows if start <= contest_day(r) < end]


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a LiveCodeBench JSON-lines file; a malformed line is an error naming the line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{lineno}: not JSON ({e.msg})") from None
            missing = [k for k in ("question_id", "question_content", "contest_date") if k not in row]
            if missing:
                raise ValueError(f"{path}:{lineno}: missing {', '.join(missing)}")
            rows.append(row)
    return rows


def load_livecodebench(name: str = "livecodebench", source: str = "local",
                       path: str | Path | None = None) -> list[Problem]:
    """LiveCodeBench problems: ``local`` reads ``path`` (default: the small sample in
    ``data/livecodebench``, written in the published format), ``hub`` downloads the release files
    of ``livecodebench/code_generation_lite``; ``name`` picks the v5/v6 contest window."""
    if source == "local":
        file = Path(path) if path is not None else LOCAL_SAMPLE
        if file.is_dir():
            file = file / "livecodebench.jsonl"
        if not file.exists():
            raise FileNotFoundError(f"{name}: benchmark file not found at {file}")
        rows = read_rows(file)
    elif source == "hub":
        from huggingface_hub import hf_hub_download

        rows = [r for f in HUB_FILES for r in read_rows(hf_hub_download(HUB_REPO, f, repo_type="dataset"))]
    else:
        raise ValueError(f"unknown source {source!r} (expected 'local' or 'hub')")
    out = []
    for i, row in enumerate(rows_in_window(rows, name)):
        p = livecodebench_row(row, i, source=name)
        p.validate()
        out.append(p)
    return out
