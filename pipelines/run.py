"""Materialize every asset of a profile on the local Dagster instance and say where results are.

    python -m pipelines.run [--profile tiny] [--only-new]
    python -m pipelines.run --asset NAME [--asset NAME ...] [--partition KEY]   # just these

It does what the sensors and automation would do, in the foreground: builds the tiny crawl when
the profile asks for it, adds one dynamic partition per WARC file, runs ``crawl_job`` for each
partition, then ``corpus_job``, ``reasoning_data_job``, ``pretrain_job``, ``post_training_job``,
``rl_job``, each checkpoint's evaluation per benchmark of the profile (``eval_job``), and
``report_job``; prints where the report is. Every asset runs with the profile's settings (its
config defaults). Runs land in the same instance the UI reads (``scripts/dagster-ui.sh``).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

from assets.partitions import crawl_partitions
from mimo.data.tiny_crawl import build_tiny_crawl
from mimo.eval.series import EVAL_ASSETS, SERIES
from mimo.paths import expand, shared_dir, state_dir
from pipelines.definitions import build_definitions
from pipelines.profiles import load_profile
from pipelines.run_health import reap_dead_runs


def _instance() -> dg.DagsterInstance:
    """The Dagster instance of ``DAGSTER_HOME``, which must hold a ``dagster.yaml``."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        sys.exit("error: DAGSTER_HOME is not set; source scripts/env.sh first (it points DAGSTER_HOME at this repo)")
    if not (Path(home) / "dagster.yaml").is_file():
        sys.exit(f"error: DAGSTER_HOME={home} has no dagster.yaml, so runs would go to an unconfigured instance "
                 "that the UI does not read; source scripts/env.sh (it points DAGSTER_HOME at this repo)")
    try:
        return dg.DagsterInstance.get()
    except dg.DagsterInvariantViolationError as exc:
        sys.exit(f"error: no Dagster instance at DAGSTER_HOME={home}: {exc}")


def _ensure_pools(instance: dg.DagsterInstance) -> None:
    """Give the `gpu` pool an explicit limit of 1 so the UI shows it."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits and "gpu" not in storage.get_concurrency_keys():
        storage.set_concurrency_slots("gpu", 1)


SEQUENCE = [
    ("corpus_job", "dedup, tagging, filtering"),
    ("reasoning_data_job", "problem sets, synthetic reasoning data"),
    ("pretrain_job", "tokenizer, stage data, pretraining stages 1-3, MTP expansion"),
    ("post_training_job", "SFT data, SFT model, RL problem curation"),
    ("rl_job", "GRPO RL-Zero (from the base model) and RL (from the SFT model)"),
]


def _run_evaluations(defs: dg.Definitions, instance: dg.DagsterInstance) -> bool:
    """Each checkpoint's evaluation on every benchmark partition, parents before children."""
    job = defs.resolve_job_def("eval_job")
    benchmarks = job.partitions_def.get_partition_keys()
    keys = [(c, b) for c in SERIES for b in benchmarks]
    for i, (checkpoint, benchmark) in enumerate(keys, 1):
        print(f"[mimo] eval_job {i}/{len(keys)}: {checkpoint} on {benchmark}", flush=True)
        result = job.execute_in_process(instance=instance, partition_key=benchmark, raise_on_error=False,
                                        asset_selection=[dg.AssetKey(EVAL_ASSETS[checkpoint])])
        if not result.success:
            print(f"error: eval_job failed for {checkpoint} on {benchmark}; see the run in the UI", file=sys.stderr)
            return False
    return True


def _check_partition(defs: dg.Definitions, assets: list[str], partition: str | None) -> str | None:
    """An error message when ``partition`` does not fit the assets' partitions, else None."""
    partitioned = {a: defs.resolve_assets_def(a).partitions_def for a in assets}
    defs_used = {p for p in partitioned.values() if p is not None}
    if partition is None:
        return f"asset(s) {sorted(a for a, p in partitioned.items() if p)} are partitioned: give --partition" \
            if defs_used else None
    if not defs_used:
        return f"asset(s) {assets} are not partitioned; drop --partition"
    for p in defs_used:
        if isinstance(p, dg.DynamicPartitionsDefinition):
            continue  # checked by Dagster against the instance
        keys = p.get_partition_keys()
        if partition not in keys:
            return f"partition {partition!r} is not one of {', '.join(keys)}"
    return None


def _materialize_only(defs: dg.Definitions, instance: dg.DagsterInstance, assets: list[str],
                      partition: str | None) -> int:
    """Materialize the named assets (and their checks) with the profile's settings."""
    graph = defs.resolve_asset_graph()
    known = {k.to_user_string() for k in graph.get_all_asset_keys()}
    unknown = [a for a in assets if a not in known]
    if unknown:
        print(f"error: unknown asset(s) {unknown}; known: {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    problem = _check_partition(defs, assets, partition)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    print(f"[mimo] materializing {', '.join(assets)}" + (f" [{partition}]" if partition else ""), flush=True)
    try:
        result = dg.materialize([*defs.assets, *defs.asset_checks], selection=assets, instance=instance,
                                resources=defs.resources, partition_key=partition, raise_on_error=False)
    except dg.DagsterUnknownPartitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not result.success:
        print("error: the run failed; see it in the UI", file=sys.stderr)
        return 1
    for event in result.get_asset_materialization_events():
        path = event.materialization.metadata.get("path")
        print(f"  {event.asset_key.to_user_string()}: {path.value if path else ''}")
    return 0


CRAWL_JOB_ASSETS = ("crawl_warc", "extracted_pages")


def run_crawl_partitions(defs: dg.Definitions, instance: dg.DagsterInstance, files: list[str],
                         only_new: bool) -> tuple[list[str], dict[str, str]]:
    """Run ``crawl_job`` for every crawl file, adding the partitions not known yet; with
    ``only_new`` only for files whose partition lacks a successful materialization of an asset of
    the job (a partition whose run failed or never ran is retried). A failed partition does not
    stop the others. Returns the failed partitions and ``{file: skip reason}`` of skipped files."""
    known = set(instance.get_dynamic_partitions(crawl_partitions.name))
    unknown = [f for f in files if f not in known]
    if unknown:
        instance.add_dynamic_partitions(crawl_partitions.name, unknown)
    done: set[str] = set()
    if only_new:  # done: every asset of the job has a successful materialization for the partition
        done = set(files)
        for asset in CRAWL_JOB_ASSETS:
            done &= instance.get_materialized_partitions(dg.AssetKey(asset))
    todo = [f for f in files if f not in done]
    crawl_job = defs.resolve_job_def("crawl_job")
    failed: list[str] = []
    skipped: dict[str, str] = {}
    for i, key in enumerate(todo, 1):
        print(f"[mimo] crawl_job {i}/{len(todo)}: partition {key}", flush=True)
        result = crawl_job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            if event.asset_key == dg.AssetKey("crawl_warc") and getattr(meta.get("skipped_file"), "value", False):
                skipped[key] = meta["skip_reason"].value
        if not result.success:
            print(f"error: crawl_job failed for {key}; see the run in the UI", file=sys.stderr)
            failed.append(key)
    return failed, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile name (default: MIMO_PROFILE or tiny)")
    parser.add_argument("--only-new", action="store_true",
                        help="run crawl_job only for WARC files not yet crawled (new, failed or never run)")
    parser.add_argument("--asset", action="append", default=[],
                        help="materialize only this asset (repeatable) with the profile's config; upstream must exist")
    parser.add_argument("--partition", default=None,
                        help="partition key for --asset (a crawl file name, or a benchmark for eval_base/eval_sft/...)")
    args = parser.parse_args(argv)
    try:
        profile = load_profile(args.profile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        defs = build_definitions(profile)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    instance = _instance()
    _ensure_pools(instance)
    for run_id, reason in reap_dead_runs(instance):
        print(f"[mimo] run {run_id} marked failed: {reason}; its pool slots are free again", flush=True)
    if args.asset:
        return _materialize_only(defs, instance, args.asset, args.partition)
    crawl_source = defs.resources["crawl_source"]
    try:
        if profile.build_tiny_crawl and not crawl_source.list_files():
            out = crawl_source.resolved()
            print(f"[mimo] building the tiny crawl into {out}")
            build_tiny_crawl(out, str(shared_dir()))
        files = crawl_source.list_files()
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not files:
        print(f"error: no WARC files in {crawl_source.resolved()}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    failed, skipped = run_crawl_partitions(defs, instance, files, args.only_new)
    if skipped:
        print("[mimo] crawl files skipped (counted, the run goes on): "
              + ", ".join(f"{name} ({reason})" for name, reason in skipped.items()), flush=True)
    if failed:
        print(f"error: crawl_job failed for {', '.join(failed)}; see the runs in the UI (the next run, "
              "--only-new too, retries them)", file=sys.stderr)
        return 1
    for job_name, what in SEQUENCE:
        print(f"[mimo] {job_name}: {what}", flush=True)
        result = defs.resolve_job_def(job_name).execute_in_process(instance=instance, raise_on_error=False)
        if not result.success:
            print(f"error: {job_name} failed; see the run in the UI", file=sys.stderr)
            return 1
    if not _run_evaluations(defs, instance):
        return 1
    print("[mimo] report_job: the evaluation report", flush=True)
    if not defs.resolve_job_def("report_job").execute_in_process(instance=instance, raise_on_error=False).success:
        print("error: report_job failed; see the run in the UI", file=sys.stderr)
        return 1
    _print_summary(defs, instance, time.perf_counter() - t0)
    return 0


def _print_summary(defs: dg.Definitions, instance: dg.DagsterInstance, seconds: float) -> None:
    lake = defs.resources["lake"]
    catalog = lake.catalog()
    rows = catalog.query("SELECT asset_key, count(*) AS n, sum(row_count) AS rows, max(path) AS path "
                         "FROM latest_artifacts WHERE created_at >= now() - INTERVAL 1 DAY "
                         "GROUP BY asset_key ORDER BY min(created_at)")
    print(f"\n[mimo] done in {seconds:.0f}s. Results:")
    for r in rows:
        print(f"  {r['asset_key']:<22} {r['n']:>3} artifact(s) {int(r['rows'] or 0):>6} rows  {r['path']}")
    corpus = catalog.latest("filtered_corpus")[0]
    checks = {}
    for check_key in defs.resolve_asset_graph().asset_check_keys:
        ev = instance.event_log_storage.get_latest_asset_check_execution_by_key([check_key]).get(check_key)
        checks[check_key.name] = getattr(ev, "status", None) and ev.status.value
    print(f"\n  corpus shards: {corpus['path']}/shard-*.parquet")
    print(f"  catalog (DuckDB): {catalog.path}")
    print(f"  asset checks: {json.dumps(checks)}")
    print(f"  Dagster state: {state_dir()}  (UI: scripts/dagster-ui.sh, then http://127.0.0.1:3000)")
    print(f"  lineage of a shard: .venv/bin/mimo lineage {corpus['path']}/shard-00000.parquet")
    synth = catalog.latest("synthetic_reasoning")
    if synth:
        meta = json.loads(synth[0]["metadata"])
        print(f"  synthetic reasoning: {synth[0]['path']}/samples.parquet")
        for strategy, y in meta["yield_by_strategy"].items():
            print(f"    {strategy:<18} generated {y['generated']:>5}  verified {y['verified']:>5}  "
                  f"kept {y['kept_after_decontamination']:>5}")
        print(f"    removed by decontamination: {meta['decontamination']['removed_by_benchmark']}")
    print(f"  lake root: {expand(defs.resources['lake'].root)}")
    report = catalog.latest("eval_report")
    if report:
        print(f"\n[mimo] evaluation report: {report[0]['path']}/report.html  (Markdown: {report[0]['path']}/report.md)")


if __name__ == "__main__":
    sys.exit(main())
