"""HumanEval's ``check(candidate)`` split into one assert test per assert statement.

A statement of ``check`` that contains an assert about the candidate becomes a test: the test
file's preamble (imports, METADATA), ``candidate = <entry point>``, the non-assert statements of
``check`` that precede it (set-up), then the statement itself (a loop of asserts stays one test).
Asserts that do not mention the candidate (``assert True``) are dropped.
"""

from __future__ import annotations

import ast


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _has_assert(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def split_check(test_code: str, entry_point: str) -> list[str]:
    """One assert-test source per candidate assert of the ``check`` function in ``test_code``."""
    tree = ast.parse(test_code)
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None or not check.args.args:
        raise ValueError("no check(candidate) function")
    param = check.args.args[0].arg
    preamble = "\n".join(ast.unparse(n) for n in tree.body if n is not check)
    setup: list[str] = []
    tests = []
    for stmt in check.body:
        src = ast.unparse(stmt)
        if _has_assert(stmt):
            if _mentions(stmt, param):
                tests.append("\n".join(p for p in (preamble, f"{param} = {entry_point}", *setup, src) if p))
        else:
            setup.append(src)
    return tests
