"""End to end: the README run command's code path on the tiny profile, with a real Dagster
instance built from the repo's dagster.yaml (SQLite in a temp state dir), real DuckDB, real files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(3000)  # the session fixture `tiny_run` (tests/conftest.py) runs the whole tiny graph


def _catalog(state):
    return duckdb.connect(str(state / "lake/_catalog/catalog.duckdb"), read_only=True)


def _meta(con, asset):
    row = con.execute("SELECT metadata FROM latest_artifacts WHERE asset_key = ? ORDER BY created_at DESC LIMIT 1", [asset]).fetchone()
    return json.loads(row[0])


def test_run_prints_where_results_are(tiny_run):
    state, _, out = tiny_run
    assert "corpus shards:" in out and str(state) in out and "catalog (DuckDB):" in out


def test_every_asset_is_materialized_in_the_real_instance(tiny_run):
    state, env, _ = tiny_run
    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    instance = dg.DagsterInstance.from_config(str(REPO))
    try:
        for key in ("deduplicated_pages", "tagger_model", "tagged_pages", "filtered_corpus"):
            event = instance.get_latest_materialization_event(dg.AssetKey(key))
            assert event is not None, key
            assert "artifact_id" in event.asset_materialization.metadata
        assert sorted(instance.get_dynamic_partitions("crawl_files")) == ["dump-00.warc.gz", "dump-01.warc.gz", "dump-02.warc.gz"]
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("filtered_corpus"), n) for n in ("no_empty_shard", "no_benchmark_contamination", "math_code_share")]
            + [dg.AssetCheckKey(dg.AssetKey("deduplicated_pages"), "dedup_rate_in_band")])
        assert {k.name: v.status.value for k, v in checks.items()} == dict.fromkeys(
            ["no_empty_shard", "no_benchmark_contamination", "math_code_share", "dedup_rate_in_band"], "SUCCEEDED")
    finally:
        instance.dispose()


def test_bad_input_is_counted_never_lost(tiny_run):
    state, _, _ = tiny_run
    planted = json.loads((state / "crawl-input/planted.json").read_text())
    con = _catalog(state)
    skips, reasons = {}, set()
    for asset in ("crawl_warc", "extracted_pages"):
        for (path,) in con.execute("SELECT path FROM latest_artifacts WHERE asset_key = ?", [asset]).fetchall():
            for row in duckdb.sql(f"SELECT url, reason FROM read_parquet('{path}/skips.parquet')").fetchall():
                skips[row[0]] = row[1]
                reasons.add(row[1])
    assert skips.get("https://bad.example/huge") == "too_large"
    assert skips.get("https://bad.example/binary.png") == "binary"
    assert skips.get("https://bad.example/empty") in ("empty_input", "empty")
    assert "https://bad.example/nested" in skips  # deeply nested: guarded, skipped with a reason
    assert {"corrupt_record", "truncated_record"} <= reasons
    # the latin-1 page mislabeled as utf-8 is decoded, not dropped
    pages = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'extracted_pages'").fetchall()
    texts = duckdb.sql("SELECT url, text FROM read_parquet([" + ",".join(f"'{p}/pages.parquet'" for (p,) in pages) + "])").fetchall()
    latin = [t for u, t in texts if u == "https://bad.example/latin1-labelled-utf8"]
    assert latin and "café crème" in latin[0].lower()
    typed = duckdb.sql("SELECT count(*), count(page_type), min(extraction_quality), max(extraction_quality) FROM "
                       "read_parquet([" + ",".join(f"'{p}/pages.parquet'" for (p,) in pages) + "])").fetchall()[0]
    assert typed[0] == typed[1] > 0 and 0 <= typed[2] <= typed[3] <= 1  # every page extracted by its type
    by_url = {u for u, why in planted["bad_records"].items() if why not in ("corrupt_record", "truncated_record", "mislabeled_encoding")}
    assert by_url <= set(skips)  # damaged records have no readable URL: they are counted by reason above


def test_planted_duplicates_are_removed_globally(tiny_run):
    state, _, _ = tiny_run
    planted = json.loads((state / "crawl-input/planted.json").read_text())
    con = _catalog(state)
    (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'deduplicated_pages'").fetchone()
    removed = dict(duckdb.sql(f"SELECT url, stage FROM read_parquet('{path}/duplicates.parquet')").fetchall())
    for original, copy in planted["exact_duplicates"]:  # the earlier-crawled one of the pair survives
        assert (copy in removed) != (original in removed), (original, copy)
    for original, again in planted["url_duplicates"]:
        assert (removed.get(again) == "url") != (removed.get(original) == "url"), (original, again)
    near_found = sum(1 for o, v in planted["near_duplicates"] if (v in removed) != (o in removed))
    assert near_found >= 0.8 * len(planted["near_duplicates"])
    meta = _meta(con, "deduplicated_pages")
    assert meta["removed_across_crawl_files"] > 0 and 0.05 < meta["dedup_rate"] < 0.4


def test_corpus_is_readable_by_datasets_and_duckdb_and_decontaminated(tiny_run):
    import datasets

    state, _, _ = tiny_run
    con = _catalog(state)
    (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'filtered_corpus'").fetchone()
    ds = datasets.load_dataset("parquet", data_files=f"{path}/shard-*.parquet", split="train",
                               cache_dir=str(state / "hf-cache"))
    n = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}/shard-*.parquet')").fetchall()[0][0]
    assert len(ds) == n > 50
    assert {"text", "domain", "weight", "warc_file", "quality", "reasoning_depth"} <= set(ds.column_names)
    urls = set(ds["url"])
    assert "https://homework-leaks.example/week-12" not in urls
    domains = set(ds["domain"])
    assert {"math", "code", "general"} <= domains
    meta = _meta(con, "tagged_pages")
    assert "heuristic_would_drop_math_code" in meta


def test_catalog_answers_which_crawl_files_fed_a_shard(tiny_run):
    state, env, _ = tiny_run
    con = _catalog(state)
    (shard_id, shard_path, meta) = con.execute(
        "SELECT artifact_id, path, metadata FROM latest_artifacts WHERE asset_key = 'filtered_corpus/shard' ORDER BY path LIMIT 1").fetchone()
    direct = con.execute("""SELECT a.partition FROM artifact_inputs i JOIN artifacts a ON a.artifact_id = i.upstream_id
                            WHERE i.artifact_id = ? AND a.asset_key = 'crawl_warc' ORDER BY 1""", [shard_id]).fetchall()
    in_shard = sorted(r[0] for r in duckdb.sql(f"SELECT DISTINCT warc_file FROM read_parquet('{shard_path}')").fetchall())
    assert [d[0] for d in direct] == in_shard == json.loads(meta)["crawl_files"]
    out = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage", shard_path], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "crawl_warc[dump-0" in out.stdout and "extracted_pages" in out.stdout and "warc=" in out.stdout


def test_problem_sets_count_malformed_records(tiny_run):
    state, _, _ = tiny_run
    con = _catalog(state)
    meta = _meta(con, "reasoning_problems")
    assert sum(meta["skipped_by_reason"].values()) == 5  # the planted bad lines of extra_problems.jsonl
    assert meta["by_source"]["handwritten"] == 5 and meta["by_source"]["toy"] > 500
    assert {"math/train", "math/heldout", "code/train", "code/heldout"} <= set(meta["by_domain_split"])
    evals = _meta(con, "evaluation_sets")["by_source"]
    assert evals["math500"] == 500 and evals["aime24"] == 30 and evals["humaneval"] == 164 and evals["toy"] > 50


def test_synthetic_reasoning_has_all_strategies_with_provenance_and_is_decontaminated(tiny_run):
    import datasets

    state, env, _ = tiny_run
    con = _catalog(state)
    (path, art_id) = con.execute("SELECT path, artifact_id FROM latest_artifacts WHERE asset_key = 'synthetic_reasoning'").fetchone()
    ds = datasets.load_dataset("parquet", data_files=f"{path}/samples.parquet", split="train",
                               cache_dir=str(state / "hf-cache"))
    assert set(ds["strategy"]) == {"grounded_analysis", "problem_solution", "general_query"}
    assert set(ds["generator_backend"]) == {"procedural"} and set(ds["generator_is_model"]) == {False}
    assert all(m[-1]["role"] == "assistant" for m in ds["messages"])
    solutions = ds.filter(lambda r: r["strategy"] == "problem_solution")
    assert set(solutions["verification"]) <= {"correct", "passed"} and set(solutions["domain"]) == {"math", "code"}
    meta = _meta(con, "synthetic_reasoning")
    removed = meta["decontamination"]["removed_by_benchmark"]
    assert removed.get("math500", 0) >= 1 and removed.get("humaneval", 0) >= 1  # the planted queries
    assert "gq-planted-math500" not in set(ds["source_id"])
    for strategy, y in meta["yield_by_strategy"].items():
        assert y["generated"] >= y["verified"] >= y["kept"] >= y["kept_after_decontamination"] > 0, strategy
    sol = _meta(con, "synthetic_problem_solutions")
    assert sol["yield"]["dropped"].get("wrong_answer", 0) > 0 and sol["yield"]["usage"]["completion_tokens"] > 0
    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    instance = dg.DagsterInstance.from_config(str(REPO))
    try:
        key = dg.AssetCheckKey(dg.AssetKey("synthetic_reasoning"), "synthetic_no_eval_contamination")
        ev = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert ev.status.value == "SUCCEEDED"
    finally:
        instance.dispose()
    lineage = {r[0] for r in con.execute("SELECT asset_key FROM artifacts WHERE artifact_id IN "
                                         "(SELECT upstream_id FROM artifact_inputs)").fetchall()}
    assert {"filtered_corpus", "reasoning_problems", "evaluation_sets", "synthetic_grounded_analyses"} <= lineage
    out = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage", f"{path}/samples.parquet"], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "crawl_warc[dump-0" in out.stdout and "reasoning_problems" in out.stdout, out.stderr


def test_stage_data_hits_the_recipe_shares(tiny_run):
    state, _, _ = tiny_run
    con = _catalog(state)
    s1 = _meta(con, "pretrain_data_stage1")["realized_shares"]
    s2 = _meta(con, "pretrain_data_stage2")["realized_shares"]
    s3 = _meta(con, "pretrain_data_stage3")["realized_shares"]
    assert "synthetic" not in s1
    assert s2["math"] + s2["code"] + s2.get("problems", 0) >= 0.65  # worked problems are math/code text
    assert 0.07 <= s3["synthetic"] <= 0.13
    # MiMo: 8K context in stages 1-2, 32K in stage 3 (the tiny profile: rows of 512, then 1,024)
    seq = {k: _meta(con, f"pretrain_data_stage{k}")["seq_len"] for k in (1, 2, 3)}
    assert seq[1] == seq[2] and seq[3] >= 2 * seq[2], seq


def test_checkpoints_train_through_all_stages_with_lineage(tiny_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import mimo.model  # noqa: F401  (registers MiMo with the Auto classes)

    state, env, _ = tiny_run
    con = _catalog(state)
    stages = ["pretrain_stage1", "pretrain_stage2", "pretrain_stage3", "mtp_expansion"]
    metas = {s: _meta(con, s) for s in stages}
    ends = [metas[s]["summary"]["global_tokens_end"] for s in stages]
    assert ends == sorted(ends) and ends[0] > 0
    assert set(metas["mtp_expansion"]["tokens_by_stage"]) == {"stage1", "stage2", "stage3", "mtp_expansion"}
    for s in stages:
        m = metas[s]
        assert m["steps"] > 0 and m["cluster/backend"] == "local" and m["cluster/job_id"]
        assert 0 < m["val_loss_main"] < 10 and m["metrics_messages"] > 0
    curve = json.loads(Path(con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'pretrain_stage1'")
                            .fetchone()[0], "model/loss_curve.json").read_text())
    assert curve[-1]["loss_main"] < curve[0]["loss_main"] - 1.0  # it learns
    (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'mtp_expansion'").fetchone()
    model = AutoModelForCausalLM.from_pretrained(f"{path}/model")
    tok = AutoTokenizer.from_pretrained(f"{path}/model")
    assert type(model).__name__ == "MiMoForCausalLM" and len(model.model.mtp_layers) == 3
    ids = tok.apply_chat_template([{"role": "user", "content": "What is 2 + 3?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)["input_ids"]
    assert model.generate(ids, max_new_tokens=5, do_sample=False).shape[1] > ids.shape[1]
    out = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage", path], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for upstream in ("pretrain_stage3", "pretrain_stage1", "pretrain_data_stage1", "tokenizer", "crawl_warc[dump-0"):
        assert upstream in out.stdout, upstream
    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    instance = dg.DagsterInstance.from_config(str(REPO))
    try:
        event = instance.get_latest_materialization_event(dg.AssetKey("pretrain_stage2"))
        run_events = instance.get_records_for_run(event.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        keys = [r.event_log_entry.dagster_event.asset_key.to_user_string() for r in run_events]
        assert keys.count("pretrain_stage2") == 1  # exactly one materialization per asset per run
    finally:
        instance.dispose()


def test_sft_model_and_curated_rl_problem_sets(tiny_run):
    import numpy as np
    import pyarrow.parquet as pq
    from transformers import AutoTokenizer

    from mimo.problems.records import table_to_problems

    state, env, _ = tiny_run
    con = _catalog(state)
    data = _meta(con, "sft_data")
    sel = data["selection"]
    assert sel["kept"] > 0 and sel["input"] == sel["kept"] + sum(sel["removed"].values())
    assert 0.2 < data["target_share"] < 1 and data["rows"] > 0
    (data_path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'sft_data'").fetchone()
    (tok_path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'tokenizer'").fetchone()
    tok = AutoTokenizer.from_pretrained(tok_path)
    tokens, mask = np.load(f"{data_path}/tokens.npy"), np.load(f"{data_path}/loss_mask.npy")
    targets = tok.decode(tokens[0][mask[0]].tolist())
    assert "<|im_end|>" in targets and "<|im_start|>" not in targets  # assistant turns only
    sft = _meta(con, "sft_model")
    assert sft["steps"] > 0 and "sft" in sft["tokens_by_stage"] and "stage3" in sft["tokens_by_stage"]
    assert sft["train_config"]["lr"]["segments"][0]["kind"] == "constant" and sft["loss_mtp_1"] > 0
    out = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage",
                          con.execute("SELECT path FROM latest_artifacts WHERE asset_key = 'sft_model'").fetchone()[0]],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "sft_data" in out.stdout and "pretrain_stage3" in out.stdout
    for domain in ("math", "code"):
        meta = _meta(con, f"rl_{domain}_problems")
        funnel, hist = meta["funnel"], meta["pass_rate_histogram"]
        assert funnel["kept"] > 0 and meta["rollouts_per_problem"] == 16
        (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = ?", [f"rl_{domain}_problems"]).fetchone()
        stats = pq.read_table(f"{path}/rollout_stats.parquet").to_pylist()
        assert sum(hist[domain]) == len(stats) >= funnel["kept"]
        assert all(s["n"] == 16 and 0 <= s["pass_rate"] <= 1 for s in stats)
        problems = table_to_problems(pq.read_table(f"{path}/problems.parquet"))
        assert all(p.split == "train" and p.domain == domain for p in problems)
        if domain == "code":
            assert all(p.tests and "test_pass_rates" in p.metadata for p in problems)
            assert "reference_check" in funnel
        else:
            assert "format_filter" in funnel


def test_rl_zero_and_rl_checkpoints_with_lineage(tiny_run):
    state, env, _ = tiny_run
    con = _catalog(state)
    for asset, init in (("rl_zero_model", "pretrain_stage3"), ("rl_model", "sft_model")):
        meta = _meta(con, asset)
        steps = meta["rl_config"]["grpo"]["steps"]
        assert meta["steps"] == steps >= 1 and len(meta["reward_curve"]) == steps and meta["metrics_messages"] >= steps
        assert meta["rl_config"]["grpo"]["loss_type"] == "token" and meta["rl_config"]["grpo"]["beta"] == 0.0
        assert 0 <= meta["final_idle_fraction"] <= 1 and meta["cluster/backend"] == "local"
        (path,) = con.execute("SELECT path FROM latest_artifacts WHERE asset_key = ?", [asset]).fetchone()
        assert (Path(path) / "model/rl_history.json").exists() and (Path(path) / "model/rl_curves.png").exists()
        # the RL topology: one trainer rank, one engine process fed the new weights after every update
        assert meta["rl_config"]["rollout_backend"] == "engines" and meta["rl_config"]["engines"]["count"] == 1
        history = json.loads((Path(path) / "model/rl_history.json").read_text())
        updated = [h for h in history if h.get("updates")]
        assert updated and all(h["weight_version"] >= 1 and h["engines_live"] == 1 for h in updated)
        assert json.loads((Path(path) / "model/training_summary.json").read_text())["trainer_ranks"] == 1
        out = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage", path], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and init in out.stdout and "rl_math_problems" in out.stdout, out.stdout[-2000:]


def test_rerun_is_idempotent(tiny_run):
    state, env, _ = tiny_run
    con = _catalog(state)
    before = con.execute("SELECT path, content_hash FROM latest_artifacts WHERE asset_key = 'extracted_pages' ORDER BY path").fetchall()
    con.close()
    proc = subprocess.run([sys.executable, "-m", "pipelines.run", "--only-new"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = _catalog(state)
    after = con.execute("SELECT path, content_hash FROM latest_artifacts WHERE asset_key = 'extracted_pages' ORDER BY path").fetchall()
    assert before == after
    corpus = con.execute("SELECT count(DISTINCT content_hash), count(DISTINCT path) FROM artifacts WHERE asset_key = 'filtered_corpus'").fetchone()
    assert corpus == (1, 1)  # same inputs and config: same path, same bytes


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_command_serves_assets_with_lineage_and_metadata(tiny_run):
    """scripts/dagster-ui.sh starts the real UI on 127.0.0.1; GraphQL shows the graph and metadata."""
    import signal
    import time
    import urllib.request

    state, env, _ = tiny_run
    port = _free_port()
    proc = subprocess.Popen(["bash", str(REPO / "scripts/dagster-ui.sh")], cwd=REPO, env=dict(env, PORT=str(port)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        query = """{ assetNodes { assetKey { path } dependencyKeys { path } }
                     assetOrError(assetKey: {path: ["filtered_corpus"]}) { ... on Asset {
                       assetMaterializations(limit: 1) { metadataEntries { label } } } } }"""
        body = json.dumps({"query": query}).encode()
        deadline, data = time.time() + 180, None
        while time.time() < deadline and data is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"})
                data = json.loads(urllib.request.urlopen(req, timeout=10).read())["data"]
            except (OSError, KeyError, ValueError):
                time.sleep(2)
        assert data is not None, "UI did not answer on 127.0.0.1"
        deps = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in data["assetNodes"]}
        assert deps["extracted_pages"] == {"crawl_warc"} and deps["tagged_pages"] == {"deduplicated_pages", "tagger_model"}
        labels = {e["label"] for e in data["assetOrError"]["assetMaterializations"][0]["metadataEntries"]}
        assert {"path", "artifact_id", "content_hash", "upstream_artifacts", "decisions"} <= labels
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a slow shutdown is not what this test checks
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_run_ends_with_the_evaluation_report(tiny_run):
    """Every (checkpoint, benchmark) of the profile is evaluated; the printed report exists and shows
    the series; `mimo lineage <checkpoint asset>` walks back to the crawl files with configs."""
    import re

    from pipelines.profiles import load_profile

    state, env, out = tiny_run
    match = re.search(r"evaluation report: (\S+/report\.html)", out)
    assert match, out[-2000:]
    html = Path(match.group(1)).read_text()
    md = Path(match.group(1)).with_name("report.md").read_text()
    assert "| Benchmark | Base | SFT | RL-Zero | RL |" in md and "data:image/png;base64" in html
    assert "Data funnel" in md and "Lineage of the checkpoints" in md
    benchmarks = load_profile("tiny").eval_benchmarks
    con = _catalog(state)
    parts = set(con.execute("SELECT asset_key, partition FROM latest_artifacts WHERE asset_key IN "
                            "('eval_base', 'eval_sft', 'eval_rl_zero', 'eval_rl')").fetchall())
    assert parts == {(f"eval_{c}", b) for c in ("base", "sft", "rl_zero", "rl") for b in benchmarks}
    for b in benchmarks:
        assert f"| {b} |" in md
    lineage = subprocess.run([sys.executable, "-m", "mimo.cli", "lineage", "rl_model", "--show-config"], env=env,
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert lineage.returncode == 0 and "config: {" in lineage.stdout
    assert "crawl files: dump-00.warc.gz, dump-01.warc.gz, dump-02.warc.gz" in lineage.stdout
