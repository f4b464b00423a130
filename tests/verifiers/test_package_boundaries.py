"""The verifiers are a package of their own: RL, evaluation, curation and synthetic-data checks use
them, and they use none of those (read from the source, every import statement)."""

from __future__ import annotations

import ast
from pathlib import Path

MIMO = Path(__file__).resolve().parents[2] / "mimo"


def imported_modules(package: str, root: Path = MIMO) -> dict[str, set[str]]:
    """``file -> modules it imports`` for every Python file under ``<root>/<package>``."""
    out: dict[str, set[str]] = {}
    for path in sorted((root / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        out[str(path.relative_to(root.parent))] = names
    return out


def offending(package: str, forbidden: tuple[str, ...], root: Path = MIMO) -> list[str]:
    return [f"{f} imports {m}" for f, mods in imported_modules(package, root).items() for m in sorted(mods)
            if any(m == p or m.startswith(p + ".") for p in forbidden)]


def test_verifiers_import_no_consumer():
    assert imported_modules("verifiers"), "no source found under mimo/verifiers"
    assert offending("verifiers", ("mimo.rl", "mimo.eval", "mimo.synth", "dagster")) == []


def test_evaluation_does_not_reach_into_rl_roles():
    # evaluation reads RL's outputs (histories) but never its trainer, rollout or curation code
    assert offending("eval", ("mimo.rl.rollout", "mimo.rl.grpo", "mimo.rl.curation", "mimo.rl.rewards",
                              "mimo.rl.sandbox")) == []


def test_the_scan_sees_a_planted_import(tmp_path):
    pkg = tmp_path / "mimo" / "verifiers"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("import os\nfrom mimo.rl.grpo import loop\n\ndef f():\n    import mimo.eval.stats\n")
    assert offending("verifiers", ("mimo.rl", "mimo.eval"), tmp_path / "mimo") == [
        "mimo/verifiers/bad.py imports mimo.eval.stats", "mimo/verifiers/bad.py imports mimo.rl.grpo"]
