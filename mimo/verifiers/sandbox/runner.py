"""Judge one program against its tests: each test in its own sandboxed process.

* stdin/stdout test: the program runs on the test's input; its stdout is compared by the grader,
  here, after trailing-whitespace normalization. The expected output never enters the sandbox.
* assert test: a recording run (program + test, candidate code on a worker thread, every call
  into the program logged), then one verifier run per program that replays each test against its
  log with no candidate code loaded and evaluates the asserts itself (see guest/record.py).

Per-test statuses: passed, wrong_answer, runtime_error, timeout, memory_limit, output_limit,
syntax_error, and error (the sandbox itself failed: an infrastructure problem, not the program's).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mimo.verifiers.sandbox.isolation import Limits, RunResult, Sandbox

TEST_STATUSES = ("passed", "wrong_answer", "runtime_error", "timeout", "memory_limit", "output_limit",
                 "syntax_error", "error")
_SYNTAX_EXIT, _COMPILE_MEMORY_EXIT = 80, 81
_SIGXCPU_EXIT, _SIGKILL_EXIT, _SIGXFSZ_EXIT = 128 + 24, 128 + 9, 128 + 25


@dataclass(frozen=True)
class Test:
    """One test: ``input``/``output`` (stdin/stdout) or ``code`` (an assert statement block)."""

    __test__ = False  # not a pytest class

    input: str | None = None
    output: str | None = None
    code: str | None = None
    level: int = 1

    @property
    def is_assert(self) -> bool:
        return self.code is not None


@dataclass(frozen=True)
class TestOutcome:
    """The verdict on one test."""

    __test__ = False

    passed: bool
    status: str
    detail: str = ""


def normalize_output(text: str) -> str:
    """Output as compared: no trailing whitespace on any line, no trailing blank lines."""
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").rstrip().split("\n"))


def _is_literal(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _is_literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_is_literal(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _is_literal(k) and _is_literal(v) for k, v in zip(node.keys, node.values))
    return False


class _Blind(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        test = node.test
        if isinstance(test, ast.Compare):
            test = ast.Compare(left=ast.Constant(None) if _is_literal(test.left) else test.left, ops=test.ops,
                               comparators=[ast.Constant(None) if _is_literal(c) else c for c in test.comparators])
        handler = ast.ExceptHandler(type=ast.Name(id="Exception", ctx=ast.Load()), name=None, body=[ast.Pass()])
        return ast.copy_location(ast.Try(body=[ast.Expr(value=test)], handlers=[handler], orelse=[], finalbody=[]),
                                 node)


def blind_asserts(test_code: str) -> str:
    """The recording run's version of an assert test: the same calls, no verdicts, no literal answers.

    ``assert E, msg`` becomes ``try: E' / except Exception: pass`` where E' is E with its literal
    comparators (``== 7``, ``== [1, 2]``, ``is True``) replaced by None. Unparseable tests are
    returned as they are (they fail in both runs).
    """
    try:
        tree = ast.parse(test_code)
    except (SyntaxError, ValueError, RecursionError):
        return test_code
    return ast.unparse(ast.fix_missing_locations(_Blind().visit(tree)))


def _failure_status(res: RunResult, limits: Limits) -> str:
    """Status of a run that did not exit cleanly (or exited non-zero)."""
    if not res.started:
        return "error"
    if res.timed_out or res.exit_code in (_SIGXCPU_EXIT, _SIGKILL_EXIT):
        return "timeout"
    if res.exit_code == _SYNTAX_EXIT:
        return "syntax_error"
    if (res.exit_code == _SIGXFSZ_EXIT or len(res.stdout) > limits.output_bytes
            or b"File too large" in res.stderr):
        return "output_limit"
    if res.exit_code == _COMPILE_MEMORY_EXIT or b"MemoryError" in res.stderr:
        return "memory_limit"
    return "runtime_error"


def _stderr_tail(res: RunResult) -> str:
    return res.error or res.stderr.decode("utf-8", errors="replace")[-300:]


def run_stdio_test(sandbox: Sandbox, program: bytes, test: Test, limits: Limits) -> TestOutcome:
    """Run the program on ``test.input``; pass iff it exits 0 and prints ``test.output``."""
    res = sandbox.run("stdio", program, limits, stdin=(test.input or "").encode("utf-8", errors="replace"))
    if res.exit_code != 0 or res.timed_out or not res.started:
        return TestOutcome(False, _failure_status(res, limits), _stderr_tail(res))
    if len(res.stdout) > limits.output_bytes:
        return TestOutcome(False, "output_limit")
    got = normalize_output(res.stdout.decode("utf-8", errors="replace"))
    if got == normalize_output(test.output or ""):
        return TestOutcome(True, "passed")
    return TestOutcome(False, "wrong_answer")


def record_assert_test(sandbox: Sandbox, program: str, test: Test, limits: Limits,
                       seed: int) -> tuple[TestOutcome | None, bytes]:
    """The recording run of one assert test: (final outcome if already decided, log)."""
    payload = json.dumps({"program": program, "test": blind_asserts(test.code or ""), "seed": seed}
                         ).encode("utf-8", errors="replace")
    res = sandbox.run("record", payload, limits)
    if not res.started or res.timed_out:
        return TestOutcome(False, _failure_status(res, limits), _stderr_tail(res)), b""
    if not res.extra.startswith(b'{"status":'):
        return TestOutcome(False, _failure_status(res, limits), _stderr_tail(res)), b""
    if res.extra.startswith(b'{"status":"syntax_error"'):
        return TestOutcome(False, "syntax_error", _stderr_tail(res)), b""
    return None, res.extra


def verify_assert_tests(sandbox: Sandbox, program: str, tests: Sequence[Test], logs: Sequence[bytes],
                        limits: Limits, seed: int) -> list[TestOutcome]:
    """One verifier run deciding every recorded assert test of a program."""
    payload = json.dumps({
        "program": program, "time_limit_s": limits.time_s,
        "tests": [{"code": t.code, "log": log.decode("utf-8", errors="replace"), "seed": seed}
                  for t, log in zip(tests, logs)],
    }).encode("utf-8", errors="replace")
    total = limits.time_s * len(tests)
    vlimits = replace(limits, time_s=math.ceil(total) + 1, memory_mb=max(limits.memory_mb, 1024),
                      output_bytes=1 << 20)
    res = sandbox.run("verify", payload, vlimits, wall_s=total + 5.0)
    if res.timed_out and res.started:
        return [TestOutcome(False, "timeout", "verifier deadline") for _ in tests]
    try:
        verdicts = json.loads(res.extra) if res.started and res.exit_code == 0 else None
    except ValueError:
        verdicts = None
    if (not isinstance(verdicts, list) or len(verdicts) != len(tests)
            or not all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], bool) and v[1] in TEST_STATUSES
                       for v in verdicts)):
        return [TestOutcome(False, "error", f"verifier failed: {_stderr_tail(res)}") for _ in tests]
    return [TestOutcome(v[0], v[1]) for v in verdicts]


def run_tests(sandbox: Sandbox, program: str, tests: Sequence[Test], limits: Limits,
              seed: int = 0) -> list[TestOutcome]:
    """Outcomes of every test, in order. A program that does not compile fails all at once."""
    program_bytes = program.encode("utf-8", errors="replace")
    outcomes: list[TestOutcome | None] = [None] * len(tests)
    pending: list[tuple[int, bytes]] = []
    broken: TestOutcome | None = None
    for i, test in enumerate(tests):
        if broken is not None:
            outcomes[i] = broken
        elif test.is_assert:
            decided, log = record_assert_test(sandbox, program, test, limits, seed)
            if decided is None:
                pending.append((i, log))
            else:
                outcomes[i] = decided
        else:
            outcomes[i] = run_stdio_test(sandbox, program_bytes, test, limits)
        if outcomes[i] is not None and outcomes[i].status == "syntax_error":
            broken = TestOutcome(False, "syntax_error", outcomes[i].detail)
    if pending:
        verdicts = verify_assert_tests(sandbox, program, [tests[i] for i, _ in pending], [log for _, log in pending],
                                       limits, seed)
        for (i, _), v in zip(pending, verdicts):
            outcomes[i] = v
    return [o if o is not None else TestOutcome(False, "error", "not run") for o in outcomes]
