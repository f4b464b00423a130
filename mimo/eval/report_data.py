"""Everything the evaluation report shows, read from the DuckDB catalog and the artifacts it points
to (no Dagster): the series table, training curves, MTP acceptance, the data funnel, and the
lineage behind each number."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mimo.eval.report_recipe import TOY, read_problem_scores
from mimo.eval.series import EVAL_ASSETS, SERIES
from mimo.lake.catalog import Catalog

PRETRAIN_STAGES = ("pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion", "sft_model")
FUNNEL = ("crawl_warc", "extracted_pages", "deduplicated_pages", "tagged_pages", "filtered_corpus")
DATA_ASSETS = ("filtered_corpus", "pretrain_data_stage1", "pretrain_data_stage2", "pretrain_data_stage3",
               "synthetic_reasoning", "sft_data", "rl_math_problems", "rl_code_problems", "evaluation_sets", "tokenizer")


@dataclass
class EvalCell:
    """One (checkpoint, benchmark) result with where it came from."""

    checkpoint: str
    benchmark: str
    n: int
    pass_at_1: float
    metrics: dict[str, Any]
    artifact_id: str
    checkpoint_artifact: str | None
    stale: bool  # evaluated on an older version of the checkpoint than the latest
    regression: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReportData:
    """Inputs of the report, each with its provenance."""

    cells: list[EvalCell]
    loss_curves: dict[str, list[dict]]  # asset -> loss_curve.json rows
    rl_histories: dict[str, list[dict]]  # rl asset -> rl_history.json rows
    mtp: dict[str, Any] | None  # mtp_speculative_eval metadata without timings (acceptance, tokens/step)
    funnel: list[dict[str, Any]]  # ordered stages with counts
    checkpoints: dict[str, dict[str, Any]]  # series name -> checkpoint lineage summary
    artifacts_used: list[str]  # every artifact id a number in the report comes from
    toy_scores: dict[str, dict[str, float]] = field(default_factory=dict)  # series -> problem -> mean reward

    @property
    def benchmarks(self) -> list[str]:
        seen: list[str] = []
        for c in self.cells:
            if c.benchmark not in seen:
                seen.append(c.benchmark)
        return seen

    def cell(self, checkpoint: str, benchmark: str) -> EvalCell | None:
        return next((c for c in self.cells if c.checkpoint == checkpoint and c.benchmark == benchmark), None)


def _meta(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row.get("metadata") or "{}")


def mtp_content(meta: dict[str, Any]) -> dict[str, Any]:
    """The reproducible part of mtp_speculative_eval's metadata: acceptances, tokens per step, greedy
    exactness. Decode speeds vary run to run; the report shows them apart, as this run's measurement."""
    keep = ("acceptance_per_layer", "mean_accepted_per_step", "greedy_identical", "mtp_layers", "num_speculative")
    prefixes = ("acceptance_layer_", "sampled_acceptance_layer_", "tokens_per_step_k")
    return {k: v for k, v in meta.items() if k in keep or k.startswith(prefixes)}


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def _checkpoint_summary(catalog: Catalog, row: dict[str, Any]) -> dict[str, Any]:
    """Artifact, config, code and the data versions a checkpoint was made from."""
    lineage = catalog.lineage(row["artifact_id"])
    data = {}
    for r in lineage:
        if r["asset_key"] in DATA_ASSETS and r["asset_key"] not in data:
            data[r["asset_key"]] = {"artifact_id": r["artifact_id"], "content_hash": (r["content_hash"] or "")[:16]}
    crawl = sorted({r["partition"] for r in lineage if r["asset_key"] == "crawl_warc"})
    return {"asset": row["asset_key"], "artifact_id": row["artifact_id"], "path": row["path"],
            "content_hash": (row["content_hash"] or "")[:16], "config_hash": row["config_hash"],
            "code_version": row["code_version"], "git_commit": row["git_commit"],
            "data_versions": data, "crawl_files": crawl,
            "upstream_artifacts": len(lineage) - 1}


def _funnel(catalog: Catalog) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    crawl = catalog.latest("crawl_warc")
    if crawl:
        ids = [r["artifact_id"] for r in crawl]
        out.append({"stage": "crawl records (HTML)", "count": sum(_meta(r).get("records_html", 0) for r in crawl),
                    "skipped": sum(_meta(r).get("records_skipped", 0) for r in crawl), "artifacts": ids})
    pages = catalog.latest("extracted_pages")
    if pages:
        out.append({"stage": "extracted pages", "count": sum(_meta(r).get("pages_out", 0) for r in pages),
                    "skipped": sum(_meta(r).get("pages_skipped", 0) for r in pages),
                    "artifacts": [r["artifact_id"] for r in pages]})
    for asset, label, key in (("deduplicated_pages", "after URL + exact + MinHash dedup", "docs_out"),
                              ("filtered_corpus", "filtered corpus (quality, domain)", "docs_out")):
        rows = catalog.latest(asset)
        if rows:
            m = _meta(rows[0])
            out.append({"stage": label, "count": m.get(key), "skipped": (m.get("docs_in") or 0) - (m.get(key) or 0),
                        "tokens": rows[0].get("token_count"), "artifacts": [rows[0]["artifact_id"]]})
    return out


def collect_report_data(catalog: Catalog) -> ReportData:
    """Gather the report's inputs from the newest artifacts in ``catalog``."""
    latest_ckpt = {name: (catalog.latest(asset) or [None])[0] for name, asset in SERIES.items()}
    used: list[str] = []
    cells: list[EvalCell] = []
    toy_scores: dict[str, dict[str, float]] = {}
    seen: set[tuple[str, str]] = set()
    for row in [r for asset in EVAL_ASSETS.values() for r in catalog.latest(asset)]:
        m = _meta(row)
        if (m["checkpoint"], m["benchmark"]) in seen:
            continue  # an older evaluation (e.g. of an earlier checkpoint version): the newest one counts
        seen.add((m["checkpoint"], m["benchmark"]))
        ckpt_row = latest_ckpt.get(m.get("checkpoint"))
        upstream = catalog.query("SELECT upstream_id FROM artifact_inputs WHERE artifact_id = ?", [row["artifact_id"]])
        ckpt_ids = {u["upstream_id"] for u in upstream}
        n = int(m.get("n", 1))
        cells.append(EvalCell(
            checkpoint=m["checkpoint"], benchmark=m["benchmark"], n=n,
            pass_at_1=float(m["metrics"].get(f"avg@{n}", 0.0)), metrics=m["metrics"], artifact_id=row["artifact_id"],
            checkpoint_artifact=ckpt_row["artifact_id"] if ckpt_row else None,
            stale=bool(ckpt_row and ckpt_row["artifact_id"] not in ckpt_ids),
            regression=m.get("regression_check", {})))
        if m["benchmark"] == TOY and row.get("path"):
            toy_scores[m["checkpoint"]] = read_problem_scores(row["path"])
        used.append(row["artifact_id"])
    cells.sort(key=lambda c: (c.benchmark, list(SERIES).index(c.checkpoint) if c.checkpoint in SERIES else 99))
    curves: dict[str, list[dict]] = {}
    for asset in PRETRAIN_STAGES:
        rows = catalog.latest(asset)
        if rows and (data := _read_json(Path(rows[0]["path"]) / "model" / "loss_curve.json")):
            curves[asset] = data
            used.append(rows[0]["artifact_id"])
    histories: dict[str, list[dict]] = {}
    for asset in ("rl_zero_model", "rl_model"):
        rows = catalog.latest(asset)
        if rows and (data := _read_json(Path(rows[0]["path"]) / "model" / "rl_history.json")):
            histories[asset] = data
            used.append(rows[0]["artifact_id"])
    mtp_rows = catalog.latest("mtp_speculative_eval")
    mtp = None
    if mtp_rows:
        meta = _meta(mtp_rows[0])
        mtp = {**mtp_content(meta), "artifact_id": mtp_rows[0]["artifact_id"],
               "timing": {k: meta[k] for k in ("speedup", "tokens_per_s_plain", "tokens_per_s_speculative",
                                               "best_num_speculative", "sampled_speedup") if k in meta}}
        used.append(mtp_rows[0]["artifact_id"])
    funnel = _funnel(catalog)
    used += [a for stage in funnel for a in stage["artifacts"]]
    checkpoints = {name: _checkpoint_summary(catalog, row) for name, row in latest_ckpt.items() if row}
    used += [c["artifact_id"] for c in checkpoints.values()]
    return ReportData(cells=cells, loss_curves=curves, rl_histories=histories, mtp=mtp, funnel=funnel,
                      checkpoints=checkpoints, artifacts_used=sorted(set(used)), toy_scores=toy_scores)
