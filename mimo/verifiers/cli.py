"""``mimo reward``: rule-based rewards over JSON lines, and the code judge service.

    mimo reward math --input IN.jsonl --output OUT.jsonl [--workers 2] [--timeout-s 10]
    mimo reward code --input IN.jsonl --output OUT.jsonl [--scheme vanilla|strict|soft]
                     [--level-scores 0.2,0.3,0.5] [--workers 2] [--allow-weak-isolation] [--judge URL]
    mimo reward serve [--host 127.0.0.1] [--port 8757] [--workers 2]   (token: MIMO_JUDGE_TOKEN)
    mimo reward info                                                   (isolation in force, as JSON)

Output lines keep the input's order, one per input line; a line that is not a JSON object gets
``status`` ``error`` (math) or ``invalid`` (code). A summary goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CHUNK = 256


def _read_items(path: str) -> Iterator[tuple[int, dict | None, str]]:
    """``(line number, item or None, problem)`` for each non-blank input line."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8", errors="replace")
    try:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                yield lineno, None, f"line {lineno}: bad JSON: {e.msg}"
                continue
            if not isinstance(item, dict):
                yield lineno, None, f"line {lineno}: not a JSON object"
                continue
            yield lineno, item, ""
    finally:
        if stream is not sys.stdin:
            stream.close()


def _chunks(it: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for x in it:
        chunk.append(x)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run(args: argparse.Namespace, score: Callable[[list[dict]], list[Any]], bad_status: str) -> int:
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    counts: Counter[str] = Counter()
    total_reward, n, start = 0.0, 0, time.monotonic()
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for chunk in _chunks(_read_items(args.input), CHUNK):
                good = [item for _, item, _ in chunk if item is not None]
                scored = iter(score(good)) if good else iter(())
                for _, item, problem in chunk:
                    row = (next(scored).to_dict() if item is not None
                           else {"id": None, "reward": 0.0, "status": bad_status, "detail": problem})
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")
                    counts[row["status"]] += 1
                    total_reward += row["reward"]
                    n += 1
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    elapsed = time.monotonic() - start
    summary = {"items": n, "mean_reward": round(total_reward / n, 4) if n else 0.0, "status": dict(counts),
               "seconds": round(elapsed, 2), "output": str(out_path)}
    print(json.dumps(summary), file=sys.stderr)
    return 0


def _parse_level_scores(text: str | None) -> Any:
    if not text:
        return None
    text = text.strip()
    if text.startswith(("{", "[")):
        value = json.loads(text)
        return {int(k): float(v) for k, v in value.items()} if isinstance(value, dict) else [float(v) for v in value]
    return [float(v) for v in text.split(",")]


def _cmd_math(args: argparse.Namespace) -> int:
    from mimo.verifiers.math import score_math

    return _run(args, lambda items: score_math(items, workers=args.workers, timeout_s=args.timeout_s), "error")


def _cmd_code(args: argparse.Namespace) -> int:
    from mimo.verifiers.code import score_code
    from mimo.verifiers.sandbox.isolation import SandboxUnavailable

    try:
        level_scores = _parse_level_scores(args.level_scores)
    except (ValueError, AttributeError) as e:
        print(f"error: bad --level-scores: {e}", file=sys.stderr)
        return 2
    token = os.environ.get("MIMO_JUDGE_TOKEN")
    try:
        return _run(args, lambda items: score_code(
            items, scheme=args.scheme, level_scores=level_scores, workers=args.workers,
            allow_weak_isolation=args.allow_weak_isolation, judge_url=args.judge, judge_token=token), "invalid")
    except SandboxUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _cmd_serve(args: argparse.Namespace) -> int:
    from mimo.verifiers.sandbox.isolation import SandboxUnavailable
    from mimo.verifiers.sandbox.service import serve

    try:
        serve(args.host, args.port, workers=args.workers, allow_weak_isolation=args.allow_weak_isolation,
              token=os.environ.get("MIMO_JUDGE_TOKEN"))
    except SandboxUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from mimo.verifiers.sandbox.isolation import isolation_info

    info = isolation_info(args.allow_weak_isolation)
    print(json.dumps(info, indent=2))
    return 0 if info.get("isolation") != "unavailable" else 3


def add_reward_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``mimo reward ...`` on the main parser's subcommands."""
    p = sub.add_parser("reward", help="rule-based rewards (math, code) and the code judge service",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rsub = p.add_subparsers(dest="reward_command", required=True)
    m = rsub.add_parser("math", help="Math-Verify reward: lines {id, response, answer}")
    m.add_argument("--input", required=True, help="JSON lines ('-' for stdin)")
    m.add_argument("--output", required=True)
    m.add_argument("--workers", type=int, default=2)
    m.add_argument("--timeout-s", type=float, default=10.0, help="wall-clock deadline per item")
    m.set_defaults(fn=_cmd_math)
    c = rsub.add_parser("code", help="sandboxed test reward: lines {id, response, tests, time_limit_s?, memory_limit_mb?}")
    c.add_argument("--input", required=True, help="JSON lines ('-' for stdin)")
    c.add_argument("--output", required=True)
    c.add_argument("--scheme", choices=("vanilla", "strict", "soft"), default="vanilla")
    c.add_argument("--level-scores", default=None, help="per-level scores, easiest first: '0.2,0.3,0.5' or JSON")
    c.add_argument("--workers", type=int, default=2)
    c.add_argument("--allow-weak-isolation", action="store_true",
                   help="run without bubblewrap if it is unavailable (untrusted code, weakly contained)")
    c.add_argument("--judge", default=None, help="URL of a judge service (mimo reward serve) to run the tests")
    c.set_defaults(fn=_cmd_code)
    s = rsub.add_parser("serve", help="run the code judge as an HTTP service")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8757)
    s.add_argument("--workers", type=int, default=2)
    s.add_argument("--allow-weak-isolation", action="store_true")
    s.set_defaults(fn=_cmd_serve)
    i = rsub.add_parser("info", help="which sandbox isolation is available here")
    i.add_argument("--allow-weak-isolation", action="store_true")
    i.set_defaults(fn=_cmd_info)
