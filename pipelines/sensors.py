"""Sensors: new WARC files become partitions and crawl runs; a complete crawl refreshes the corpus."""


import hashlib

import dagster as dg

from assets.partitions import crawl_partitions
from resources.lake import CrawlSourceResource, LakeResource


def build_sensors(default_running: bool) -> list[dg.SensorDefinition]:
    """The crawl-file sensor and the corpus-refresh sensor."""
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

    return [crawl_files_sensor, corpus_refresh_sensor]
