"""Sensors and schedules: new WARC files become partitions and crawl runs; a complete crawl
refreshes the corpus; a new checkpoint of the series is evaluated on the profile's benchmarks; new
evaluations refresh the report; a nightly schedule (off by default) re-evaluates the latest
checkpoints with a fresh sampling seed."""


import hashlib
import json

import dagster as dg

from assets.partitions import crawl_partitions
from mimo.eval.series import SERIES
from resources.lake import CrawlSourceResource, LakeResource


def _latest_storage_id(instance: dg.DagsterInstance, asset: str) -> int | None:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1).records
    return records[0].storage_id if records else None


def eval_run_requests(checkpoint: str, benchmarks: list[str], run_key: str | None, **extra: object) -> list[dg.RunRequest]:
    """One eval_job run per benchmark for a checkpoint of the series."""
    return [dg.RunRequest(partition_key=dg.MultiPartitionKey({"checkpoint": checkpoint, "benchmark": b}),
                          run_key=f"{run_key}:{b}" if run_key else None, **extra) for b in benchmarks]


def build_sensors(default_running: bool, eval_benchmarks: list[str] | None = None) -> list[dg.SensorDefinition]:
    """The crawl-file, corpus-refresh, checkpoint-evaluation and report-refresh sensors."""
    status = dg.DefaultSensorStatus.RUNNING if default_running else dg.DefaultSensorStatus.STOPPED

    @dg.sensor(job_name="crawl_job", minimum_interval_seconds=30, default_status=status,
               description="Adds a crawl partition per new WARC file in the crawl input and runs crawl_job on it.")
    def crawl_files_sensor(context: dg.SensorEvaluationContext, crawl_source: CrawlSourceResource) -> dg.SensorResult:
        known = set(context.instance.get_dynamic_partitions(crawl_partitions.name))
        new = [name for name in crawl_source.list_files() if name not in known]
        if not new:
            return dg.SensorResult(skip_reason=f"no new WARC files in {crawl_source.resolved()}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=name, run_key=f"crawl:{name}") for name in new],
            dynamic_partitions_requests=[crawl_partitions.build_add_request(new)],
        )

    @dg.sensor(job_name="corpus_job", minimum_interval_seconds=60, default_status=status,
               description="Runs corpus_job once every crawl partition has extracted pages newer than the last corpus.")
    def corpus_refresh_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        partitions = sorted(context.instance.get_dynamic_partitions(crawl_partitions.name))
        if not partitions:
            return dg.SensorResult(skip_reason="no crawl partitions yet")
        catalog = lake.catalog()
        latest = {}
        for key in partitions:
            rows = catalog.latest("extracted_pages", key)
            if not rows:
                return dg.SensorResult(skip_reason=f"waiting for extracted_pages of {key}")
            latest[key] = rows[0]["artifact_id"]
        fingerprint = hashlib.sha256(repr(sorted(latest.items())).encode()).hexdigest()[:16]
        if context.cursor == fingerprint:
            return dg.SensorResult(skip_reason="corpus already built from these extractions")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"corpus:{fingerprint}")], cursor=fingerprint)

    benchmarks = list(eval_benchmarks or [])

    @dg.sensor(job_name="eval_job", minimum_interval_seconds=60, default_status=status,
               description="A new materialization of a series checkpoint (Base, SFT, RL-Zero, RL) runs its "
                           "evaluations on the profile's benchmarks.")
    def checkpoint_eval_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        seen = json.loads(context.cursor) if context.cursor else {}
        requests, now = [], dict(seen)
        for checkpoint, asset in SERIES.items():
            sid = _latest_storage_id(context.instance, asset)
            if sid is None or seen.get(asset) == sid:
                continue
            now[asset] = sid
            requests += eval_run_requests(checkpoint, benchmarks, f"eval:{asset}:{sid}")
        if not requests:
            return dg.SensorResult(skip_reason="no new checkpoint of the series", cursor=json.dumps(now))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(now))

    @dg.sensor(job_name="report_job", minimum_interval_seconds=120, default_status=status,
               description="New evaluation results rebuild the evaluation report.")
    def report_refresh_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        sid = _latest_storage_id(context.instance, "eval_results")
        if sid is None or context.cursor == str(sid):
            return dg.SensorResult(skip_reason="no new evaluation results")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"report:{sid}")], cursor=str(sid))

    return [crawl_files_sensor, corpus_refresh_sensor, checkpoint_eval_sensor, report_refresh_sensor]


def build_schedules(eval_benchmarks: list[str], eval_config: dict | None = None) -> list[dg.ScheduleDefinition]:
    """The nightly re-evaluation (stopped by default: it runs every evaluation of the series);
    ``eval_config`` is the profile's ``eval_results`` config (the night's seed is added to it)."""

    @dg.schedule(job_name="eval_job", cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Nightly: re-evaluate the latest checkpoints of the series on every benchmark, with "
                             "the night's date as sampling seed (fresh samples; same seed would resume the old ones).")
    def nightly_eval_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        night = context.scheduled_execution_time.strftime("%Y%m%d")
        requests = []
        for checkpoint, asset in SERIES.items():
            if _latest_storage_id(context.instance, asset) is None:
                continue
            requests += eval_run_requests(checkpoint, eval_benchmarks, f"nightly:{night}:{checkpoint}",
                                          run_config={"ops": {"eval_results": {"config": {**(eval_config or {}),
                                                                                           "seed": int(night)}}}},
                                          tags={"mimo/nightly": night})
        return requests

    return [nightly_eval_schedule]
