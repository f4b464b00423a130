"""Sensors and schedules: new WARC files become crawl partitions and runs; the automation sensor
evaluates the assets' automation conditions (a refreshed corpus flows downstream, a new checkpoint
is evaluated, new evaluations rebuild the report); a nightly schedule (off by default)
re-evaluates the latest checkpoints with a fresh sampling seed."""

import dagster as dg

from assets.partitions import crawl_partitions
from mimo.eval.series import EVAL_ASSETS, SERIES
from resources.lake import CrawlSourceResource


def _materialized(instance: dg.DagsterInstance, asset: str) -> bool:
    return bool(instance.fetch_materializations(dg.AssetKey(asset), limit=1).records)


def build_sensors(default_running: bool) -> list[dg.SensorDefinition]:
    """The crawl-file sensor and the automation-condition sensor (both on when the profile says so)."""
    status = dg.DefaultSensorStatus.RUNNING if default_running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(job_name="crawl_job", minimum_interval_seconds=30, default_status=status,
               description="Adds a crawl partition per new WARC file in the crawl input and runs crawl_job on it; "
                           "a bad file (empty, not a WARC, cut off, unreadable) gets its run like any other and "
                           "materializes as a counted skip.")
    def crawl_files_sensor(context: dg.SensorEvaluationContext, crawl_source: CrawlSourceResource) -> dg.SensorResult:
        # Nothing here opens a file or waits for one to settle: every listed name is requested at once,
        # so no file (zero bytes, unreadable, vanished) can hold the others back.
        known = set(context.instance.get_dynamic_partitions(crawl_partitions.name))
        new = [name for name in crawl_source.list_files() if name not in known]
        if not new:
            return dg.SensorResult(skip_reason=f"no new WARC files in {crawl_source.resolved()}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=name, run_key=f"crawl:{name}") for name in new],
            dynamic_partitions_requests=[crawl_partitions.build_add_request(new)],
        )

    automation = dg.AutomationConditionSensorDefinition(
        "automation_sensor", target=dg.AssetSelection.all(), default_status=status, minimum_interval_seconds=30,
        description="Evaluates every asset's automation condition: eager refresh after new upstream data, only "
                    "when the upstream's blocking checks passed.")
    return [crawl_files_sensor, automation]


def build_schedules(eval_benchmarks: list[str]) -> list[dg.ScheduleDefinition]:
    """The nightly re-evaluation (stopped by default: it runs every evaluation of the series)."""

    @dg.schedule(job_name="eval_job", cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Nightly: re-evaluate the latest checkpoints of the series on every benchmark, with "
                             "the night's date as sampling seed (fresh samples; same seed would resume the old ones).")
    def nightly_eval_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        night = context.scheduled_execution_time.strftime("%Y%m%d")
        assets = [EVAL_ASSETS[c] for c, asset in SERIES.items() if _materialized(context.instance, asset)]
        if not assets:
            return []
        ops = {asset: {"config": {"seed": int(night)}} for asset in assets}
        return [dg.RunRequest(partition_key=b, run_key=f"nightly:{night}:{b}", run_config={"ops": ops},
                              asset_selection=[dg.AssetKey(a) for a in assets], tags={"mimo/nightly": night})
                for b in eval_benchmarks]

    return [nightly_eval_schedule]
