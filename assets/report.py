"""The evaluation report asset: HTML and Markdown (plots as images), built from the catalog: the
series table, loss and RL curves, MTP acceptance, the data funnel, and the lineage of every number."""



import dagster as dg

from assets.common import MemoryMeter, WriteStats, write_artifact
from assets.pretraining import _plot_md
from mimo.eval.report import render_report, series_table
from mimo.eval.report_data import collect_report_data
from mimo.eval.series import EVAL_ASSETS
from resources.lake import LakeResource


class ReportConfig(dg.Config):
    """Report options."""

    title: str = "MiMo pipeline evaluation report"


@dg.asset(
    deps=[*EVAL_ASSETS.values(), "mtp_speculative_eval", "pretrain_stage1", "pretrain_stage2", "pretrain_stage3",
          "mtp_expansion", "sft_model", "rl_zero_model", "rl_model", "filtered_corpus"],
    group_name="evaluation", kinds={"html"}, code_version="report-v1",
    description="The evaluation report (report.html, report.md): the Base/SFT/RL-Zero/RL table per benchmark, "
                "loss curves, RL curves, MTP acceptance, data funnel, and the lineage of every number.",
)
def eval_report(context: dg.AssetExecutionContext, config: ReportConfig, lake: LakeResource) -> dg.MaterializeResult:
    meter = MemoryMeter()
    data = collect_report_data(lake.catalog())
    if not data.cells:
        raise dg.Failure(f"no evaluations in the catalog yet: materialize {', '.join(EVAL_ASSETS.values())} first")
    header, rows = series_table(data)
    identity = {**config.model_dump(), "inputs": data.artifacts_used}

    def write(tmp: str) -> WriteStats:
        rendered = render_report(data, tmp, title=config.title)
        table = "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                          + ["| " + " | ".join(r) + " |" for r in rows])
        metadata = {"series_table": dg.MetadataValue.md(table), "benchmarks": data.benchmarks,
                    "evaluations": len(data.cells), "stale_evaluations": sum(c.stale for c in data.cells),
                    "regressions": [f"{c.checkpoint}/{c.benchmark}" for c in data.cells
                                    if not c.regression.get("passed", True)],
                    "artifacts_used": len(data.artifacts_used)}
        for name, png in rendered.plots.items():
            metadata[name] = _plot_md(png)
        return WriteStats(row_count=len(data.cells), metadata=metadata)

    result = write_artifact(context, lake, identity, write, upstream_ids=data.artifacts_used, meter=meter)
    path = str(result.metadata["path"].value)
    context.log.info(f"report: {path}/report.html")
    return dg.MaterializeResult(
        metadata={**result.metadata, "report_html": dg.MetadataValue.path(f"{path}/report.html"),
                  "report_md": dg.MetadataValue.path(f"{path}/report.md")},
        data_version=result.data_version)

