"""The report's "recipe at work" section: on the toy held-out benchmark, each model's pass@1 with its
95 % interval, pass@k and per-level rates, and the paired differences the recipe should produce
(SFT over Base, RL over SFT, RL-Zero over Base), each marked significant only when its interval
excludes zero. Problems with no learnable signal or an evaluation set smaller than asked are
written out as notes, never left as an empty table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mimo.eval.series import SERIES, SERIES_LABELS
from mimo.eval.stats import paired_difference, problem_scores

TOY = "toy_heldout"
# (later, earlier, wanted gain in points): the differences the recipe should show at tiny scale
EXPECTED_GAINS = (("sft", "base", 10.0), ("rl", "sft", 10.0), ("rl_zero", "base", 0.0))


def read_problem_scores(path: str | Path) -> dict[str, float]:
    """Per-problem mean reward from an evaluation artifact's ``samples.parquet`` (generation errors left out)."""
    import pyarrow.parquet as pq

    file = Path(path) / "samples.parquet"
    if not file.exists():
        return {}
    rows = [r for r in pq.read_table(file, columns=["problem_id", "reward", "status"]).to_pylist()
            if r["status"] != "generation_error"]
    return problem_scores(rows)


def group_label(group: str) -> str:
    """``level 2`` for a difficulty level, the domain name (``code``) for problems without one."""
    return f"level {group}" if str(group).isdigit() else str(group)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def model_rows(cells: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per model: pass@1 [95 % interval], pass@k, per-level pass@1, problems x samples."""
    levels = sorted({lv for c in cells.values() for lv in (c.metrics.get("per_level") or {})}, key=str)
    ks = sorted({int(k[5:]) for c in cells.values() for k in c.metrics if k.startswith("pass@") and k[5:].isdigit()})
    header = ["Model", "pass@1 % [95 % interval]", *(f"pass@{k} %" for k in ks if k > 1),
              *(f"{group_label(lv)} %" for lv in levels), "problems x samples"]
    rows = []
    for name in SERIES:
        c = cells.get(name)
        if c is None:
            continue
        lo, hi = c.metrics.get("pass@1_ci95", [None, None])
        per = c.metrics.get("per_level") or {}
        rows.append([SERIES_LABELS[name], f"{_pct(c.pass_at_1)} [{_pct(lo)}, {_pct(hi)}]",
                     *(_pct(c.metrics.get(f"pass@{k}")) for k in ks if k > 1),
                     *(_pct((per.get(lv) or {}).get("mean")) for lv in levels),
                     f"{c.metrics.get('problems', '?')} x {c.n}"])
    return header, rows


def difference_rows(scores: Mapping[str, Mapping[str, float]]) -> list[list[str]]:
    """One row per expected gain: the paired difference in points, its interval, and whether it holds."""
    rows = []
    for later, earlier, wanted in EXPECTED_GAINS:
        label = f"{SERIES_LABELS[later]} − {SERIES_LABELS[earlier]}"
        if later not in scores or earlier not in scores:
            rows.append([label, "–", "–", f"≥ +{wanted:g}" if wanted else "> 0", "not evaluated yet"])
            continue
        d = paired_difference(scores[earlier], scores[later])
        if not d["n"]:
            rows.append([label, "–", "–", f"≥ +{wanted:g}" if wanted else "> 0", "no common problems"])
            continue
        gain, lo, hi = 100 * d["mean"], 100 * d["lo"], 100 * d["hi"]
        holds = d["significant"] and gain > 0 and gain >= wanted
        verdict = ("met" if holds else "above zero, below the target" if d["significant"] and gain > 0
                   else "not significant" if not d["significant"] else "worse")
        rows.append([label, f"{gain:+.1f}", f"[{lo:+.1f}, {hi:+.1f}] over {d['n']} problems",
                     f"≥ +{wanted:g}" if wanted else "> 0", verdict])
    return rows


def signal_notes(cells: Mapping[str, Any], scores: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Warnings a reader needs: levels with no learnable signal after SFT, short evaluation sets."""
    notes = []
    sft = cells.get("sft")
    if sft is not None:
        for level, v in sorted((sft.metrics.get("per_level") or {}).items()):
            if v.get("mean") in (0.0, 1.0):
                notes.append(f"{group_label(level)}: SFT pass rate {100 * v['mean']:.0f} % on all {v['n']} problems: "
                             "no learnable signal for RL at this level")
    for name, c in cells.items():
        if c.metrics.get("problems", 0) < 200:
            notes.append(f"{SERIES_LABELS.get(name, name)}: {c.metrics.get('problems')} toy problems evaluated "
                         "(fewer than 200): differences of 10 points may not be told from noise")
        if c.stale:
            notes.append(f"{SERIES_LABELS.get(name, name)}: evaluated on an older version of the checkpoint")
    if not scores:
        notes.append("no toy held-out evaluation has been materialized yet")
    return notes


def plot_levels(cells: Mapping[str, Any], out: Path) -> Path | None:
    """Bars of pass@1 per level (and overall) for each model, with 95 % intervals: ``levels.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m in SERIES if m in cells and cells[m].metrics.get("per_level")]
    if not models:
        return None
    groups = sorted({g for m in models for g in cells[m].metrics["per_level"]}, key=lambda g: (not g.isdigit(), g))
    labels = [group_label(g) for g in groups] + ["all"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 3))
    for i, m in enumerate(models):
        per = cells[m].metrics["per_level"]
        stats = [per.get(g) or {} for g in groups]
        means = [100 * (s.get("mean") or 0.0) for s in stats]
        los = [100 * ((s.get("mean") or 0.0) - (s.get("lo") or s.get("mean") or 0.0)) for s in stats]
        his = [100 * ((s.get("hi") or s.get("mean") or 0.0) - (s.get("mean") or 0.0)) for s in stats]
        lo, hi = cells[m].metrics.get("pass@1_ci95", [cells[m].pass_at_1] * 2)
        means.append(100 * cells[m].pass_at_1)
        los.append(100 * (cells[m].pass_at_1 - lo))
        his.append(100 * (hi - cells[m].pass_at_1))
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, means, width, yerr=[los, his], capsize=2, label=SERIES_LABELS[m], color=f"C{i}")
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("pass@1 % (95 % interval)", fontsize=8)
    ax.set_title("toy held-out pass@1 by level", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "levels.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
