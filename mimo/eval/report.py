"""Render the evaluation report (HTML and Markdown, plots as PNG files) from :class:`ReportData`.

Sections: the series table in the shape of MiMo's tables (rows per benchmark; Base, SFT, RL-Zero,
RL), pretraining/SFT loss curves (main and MTP), RL reward and pass-rate curves, MTP acceptance,
the data funnel from crawl to corpus, and the lineage (artifact ids, data versions, config, code)
behind every number.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimo.eval.report_data import ReportData
from mimo.eval.report_recipe import TOY, difference_rows, model_rows, plot_levels, signal_notes
from mimo.eval.series import SERIES, SERIES_LABELS
from mimo.rl.history import last_value, mark_skipped, series, skipped_steps

RL_HEADER = ["Model", "Steps", "Updates skipped", "Final reward mean", "Final pass rate"]


@dataclass
class RenderedReport:
    """Paths of the written files."""

    html: Path
    markdown: Path
    plots: dict[str, Path]
    data: Path


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def series_table(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per benchmark, pass@1 (%) per series; ``*`` marks a result of an
    older checkpoint version, ``(n=…)`` the repeats behind the mean."""
    header = ["Benchmark", *(SERIES_LABELS[s] for s in SERIES)]
    rows = []
    for b in data.benchmarks:
        row = [b]
        for s in SERIES:
            c = data.cell(s, b)
            row.append("–" if c is None else f"{_fmt(c.pass_at_1)}{'*' if c.stale else ''} (n={c.n})")
        rows.append(row)
    return header, rows


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def _plot_losses(data: ReportData, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not data.loss_curves:
        return None
    fig, axes = plt.subplots(1, len(data.loss_curves), figsize=(3.2 * len(data.loss_curves), 3), squeeze=False)
    for ax, (asset, rows) in zip(axes[0], data.loss_curves.items()):
        for key, label in (("loss_main", "main"), *((f"loss_mtp_{k}", f"MTP {k}") for k in range(1, 4))):
            if points := series(rows, key):
                main = key == "loss_main"
                ax.plot(*zip(*points), label=label, lw=1.2 if main else 0.9, alpha=1.0 if main else 0.8)
        ax.set_title(asset, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        _legend(ax)
    axes[0][0].set_ylabel("loss (CE)", fontsize=8)
    fig.tight_layout()
    path = out / "loss_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_rl(data: ReportData, out: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not data.rl_histories:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for i, (asset, rows) in enumerate(data.rl_histories.items()):
        color = f"C{i}"
        for ax, key in zip(axes, ("reward_mean", "pass_rate")):
            if points := series(rows, key):
                ax.plot(*zip(*points), marker="o", ms=3, color=color, label=asset)
            mark_skipped(ax, skipped_steps(rows), color=color, label=f"{asset}: update skipped")
    for ax, title in zip(axes, ("reward mean", "pass rate")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("RL step", fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(labelsize=7)
        _legend(ax)
    fig.tight_layout()
    path = out / "rl_curves.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def rl_rows(data: ReportData) -> list[list[str]]:
    """One row per RL asset: steps, skipped updates (with the steps), final reward mean and pass rate
    (from the last step that has them)."""
    rows = []
    for asset, hist in data.rl_histories.items():
        skipped = skipped_steps(hist)
        where = f" (steps {', '.join(map(str, skipped))})" if skipped else ""
        final = [last_value(hist, k) for k in ("reward_mean", "pass_rate")]
        rows.append([asset, str(len(hist)), f"{len(skipped)}{where}",
                     *("–" if v is None else f"{v:.3f}" for v in final)])
    return rows


#: the recipe's MTP targets at tiny scale (docs/speculative.md): layer-1 acceptance and batch-1 speed
MTP_ACCEPTANCE_TARGET = 0.70
MTP_SPEEDUP_TARGET = 1.2


def _verdict(value: float, target: float) -> str:
    return "met" if value >= target else "not met"


def _mtp_rows(data: ReportData) -> list[list[str]]:
    if not data.mtp:
        return []
    m = data.mtp
    rows = []
    for layer, rate in sorted((m.get("acceptance_per_layer") or {}).items()):
        target = (f"≥ {100 * MTP_ACCEPTANCE_TARGET:.0f}%: {_verdict(float(rate), MTP_ACCEPTANCE_TARGET)}"
                  if str(layer) == "1" else "")
        rows.append([f"MTP layer {layer} acceptance", f"{100 * float(rate):.1f}%", target])
    steps = sorted((k for k in m if k.startswith("tokens_per_step_k")), key=lambda k: int(k.rsplit("k", 1)[1]))
    for key in steps:
        rows.append([f"tokens per decoding step, K={key.rsplit('k', 1)[1]} drafts", f"{float(m[key]):.2f}", ""])
    if m.get("greedy_identical") is not None:
        rows.append(["greedy output identical to plain decoding", "yes" if m["greedy_identical"] else "no", "yes"])
    t = m.get("timing") or {}
    if t.get("speedup") is not None:
        rows.append([f"speculative decoding speed vs plain, batch 1 (K={t.get('best_num_speculative')}, this run)",
                     f"{float(t['speedup']):.2f}x ({t.get('tokens_per_s_speculative')} vs "
                     f"{t.get('tokens_per_s_plain')} tokens/s)",
                     f"≥ {MTP_SPEEDUP_TARGET:g}x: {_verdict(float(t['speedup']), MTP_SPEEDUP_TARGET)}"])
    if t.get("sampled_speedup") is not None:
        rows.append(["same, sampled at temperature 0.6 (this run)", f"{float(t['sampled_speedup']):.2f}x", ""])
    return rows or [["(metadata)", html.escape(json.dumps({k: v for k, v in m.items() if k != 'artifact_id'})[:300]),
                     ""]]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _sections(data: ReportData, plots: dict[str, Path]) -> list[tuple[str, str, list[str], list[list[str]], str | None]]:
    """(title, intro, header, rows, plot key) per section; rendered to both formats."""
    header, rows = series_table(data)
    toy_cells = {c.checkpoint: c for c in data.cells if c.benchmark == TOY}
    recipe_models = model_rows(toy_cells)
    notes = signal_notes(toy_cells, data.toy_scores)
    funnel_rows = [[s["stage"], str(s["count"]), str(s.get("skipped", "")), str(s.get("tokens") or ""),
                    ", ".join(s["artifacts"][:3]) + (" …" if len(s["artifacts"]) > 3 else "")] for s in data.funnel]
    eval_rows = [[c.benchmark, SERIES_LABELS.get(c.checkpoint, c.checkpoint), _fmt(c.pass_at_1), str(c.n),
                  ", ".join(f"{k}={v:.3f}" for k, v in c.metrics.items()
                            if k.startswith(("pass@", "maj@")) and isinstance(v, (int, float))),
                  "ok" if c.regression.get("passed", True) else f"regressed vs {c.regression.get('parent')}",
                  c.artifact_id] for c in data.cells]
    lineage_rows = [[SERIES_LABELS[s], c["asset"], c["artifact_id"], c["content_hash"], c["config_hash"] or "",
                     c["code_version"] or "", (c["git_commit"] or "")[:10],
                     "; ".join(f"{k}={v['content_hash'][:10]}" for k, v in c["data_versions"].items()),
                     ", ".join(c["crawl_files"])] for s, c in data.checkpoints.items()]
    return [
        ("Series: pass@1 (%)", ("Mean over n samples per problem at temperature 0.6, top-p 0.95 (MiMo's setting). "
         "* = evaluated on an older version of that checkpoint."), header, rows, None),
        ("The recipe at work: toy held-out benchmark", (
            "pass@1 with its 95 % interval (problem as the unit), pass@k and pass@1 per difficulty level "
            "(level = solution steps)." + ("" if not notes else " Notes: " + "; ".join(notes) + ".")),
         *recipe_models, "levels"),
        ("Differences the recipe should make", (
            "Paired over the same problems: later model minus earlier, in points, with the 95 % interval of "
            "the mean per-problem difference; 'met' needs the interval above zero and the gain at the target."),
         ["Difference", "Points", "95 % interval", "Target", "Verdict"], difference_rows(data.toy_scores), None),
        ("Evaluation detail", ("Every result with its pass@k / maj@n, the regression check against the parent "
         "checkpoint, and the evaluation artifact it comes from."),
         ["Benchmark", "Model", "pass@1 %", "n", "pass@k / maj@n", "regression check", "artifact"], eval_rows, None),
        ("Pretraining and SFT loss", "Training loss per step of each stage, main head and MTP heads.",
         [], [], "loss_curves"),
        ("RL", ("Reward mean and pass rate per GRPO step, over the groups the step trained on; a step whose "
         "update was skipped (no informative group) has no point and is marked by a dotted line."),
         RL_HEADER if data.rl_histories else [], rl_rows(data), "rl_curves"),
        ("MTP speculative decoding", ("Acceptance per MTP layer on the model's own decoding of held-out "
         "prompts, tokens per decoding step, and decode speed with MTP drafts against plain decoding of the "
         "same checkpoint (mtp_speculative_eval; speeds are this run's wall clock). Why the speed target "
         "is out of reach at the tiny shape on a CPU: docs/speculative.md."),
         ["Measure", "Value", "Target"], _mtp_rows(data), None),
        ("Data funnel", "From crawl records to the filtered pretraining corpus.",
         ["Stage", "Documents", "Removed/skipped", "Tokens", "Artifacts"], funnel_rows, None),
        ("Lineage of the checkpoints", ("Catalog artifact, config hash, code version, git commit, the data versions "
         "(content hashes) each checkpoint was trained from, and its crawl files. `mimo lineage <artifact>` shows "
         "the full path."),
         ["Model", "Asset", "Artifact", "Content", "Config", "Code", "Git", "Data versions", "Crawl files"],
         lineage_rows, None),
    ]


CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;color:#222}"
       "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}"
       "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{background:#f3f3f3}"
       "img{max-width:100%;border:1px solid #eee}")


def render_report(data: ReportData, out_dir: str | Path, title: str = "MiMo pipeline evaluation report") -> RenderedReport:
    """Write ``report.html`` (self-contained: plots embedded), ``report.md`` (plots as files beside
    it), the PNG plots and ``report_data.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    toy_cells = {c.checkpoint: c for c in data.cells if c.benchmark == TOY}
    plots = {k: p for k, p in (("loss_curves", _plot_losses(data, out)), ("rl_curves", _plot_rl(data, out)),
                               ("levels", plot_levels(toy_cells, out))) if p}
    md = [f"# {title}", ""]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for name, intro, header, rows, plot in _sections(data, plots):
        md += [f"## {name}", "", intro, ""]
        body += [f"<h2>{html.escape(name)}</h2>", f"<p>{html.escape(intro)}</p>"]
        if header and rows:
            md += [_md_table(header, rows), ""]
            body.append(_html_table(header, rows))
        elif header:
            md += ["(not materialized yet)", ""]
            body.append("<p><em>(not materialized yet)</em></p>")
        if plot:
            if plot in plots:
                md += [f"![{name}]({plots[plot].name})", ""]
                b64 = base64.b64encode(plots[plot].read_bytes()).decode()
                body.append(f'<img alt="{html.escape(name)}" src="data:image/png;base64,{b64}">')
            else:
                md += ["(not materialized yet)", ""]
                body.append("<p><em>(not materialized yet)</em></p>")
    md += ["## Artifacts behind this report", "", ", ".join(data.artifacts_used), ""]
    body += ["<h2>Artifacts behind this report</h2>", f"<p>{html.escape(', '.join(data.artifacts_used))}</p>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")
    files = {"report.html": page, "report.md": "\n".join(md)}
    for name, text in files.items():
        tmp = out / f".{name}.tmp-{os.getpid()}"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    data_path = out / "report_data.json"
    data_path.write_text(json.dumps({"series": series_table(data), "cells": [c.__dict__ for c in data.cells],
                                     "mtp": data.mtp, "funnel": data.funnel, "checkpoints": data.checkpoints,
                                     "artifacts_used": data.artifacts_used}, indent=2, default=str))
    return RenderedReport(html=out / "report.html", markdown=out / "report.md", plots=plots, data=data_path)
