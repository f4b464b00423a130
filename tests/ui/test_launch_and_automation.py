"""The UI as a data engineer uses it, on a copy of the finished default run: the daemon's sensors
and automation launch nothing for work already done; a Materialize launched through the
webserver's GraphQL API (what the UI's button sends) with no run config runs with the profile's
settings; automation then refreshes the report downstream; CLI catalog queries run all along
without a lock error or a lost row."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import duckdb
import pytest

from pipelines.profiles import load_profile
from tests.ui.ui_server import REPO, graphql, start_ui, stop_ui

pytestmark = [pytest.mark.timeout(3000), pytest.mark.slow]  # `tiny_run` may run the whole default graph
ARTIFACTS = REPO / ".test-artifacts/ui"
LAUNCH = """mutation Launch($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } ... on InvalidSubsetError { message } } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId status assetSelection { path } tags { key value } } } } }"


def _location(port: int) -> str:
    nodes = graphql(port, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }")
    return nodes["repositoriesOrError"]["nodes"][0]["location"]["name"]


def _runs(port: int, before: set[str] = frozenset()) -> list[dict]:
    """Runs in the instance, except those in ``before``."""
    return [r for r in graphql(port, RUNS)["runsOrError"]["results"] if r["runId"] not in before]


def _run_ids(env: dict[str, str]) -> set[str]:
    """Run ids already in the state's Dagster storage (the finished pipeline's runs)."""
    import os

    import dagster as dg

    os.environ.update({k: env[k] for k in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS")})
    with dg.DagsterInstance.from_config(str(REPO)) as instance:
        return {r.run_id for r in instance.get_runs()}


def _automation_ticks(port: int, location: str) -> list[dict]:
    query = """query Ticks($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
      ... on Sensor { sensorState { status ticks(limit: 20) { status } } } } }"""
    selector = {"repositoryLocationName": location, "repositoryName": "__repository__",
                "sensorName": "automation_sensor"}
    return graphql(port, query, {"s": selector})["sensorOrError"]["sensorState"]["ticks"]


def _wait(predicate, timeout_s: float, what: str, poll_s: float = 3.0):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


class CatalogQueries(threading.Thread):
    """`mimo catalog` in a loop, as a user at a shell would run it beside the UI."""

    def __init__(self, env: dict[str, str]):
        super().__init__(daemon=True)
        self.env, self.counts, self.errors = env, [], []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            proc = subprocess.run([str(REPO / ".venv/bin/mimo"), "catalog", "SELECT count(*) AS n FROM artifacts"],
                                  cwd=REPO, env=self.env, capture_output=True, text=True, timeout=120)
            if proc.returncode != 0:
                self.errors.append(proc.stderr.strip())
            else:
                self.counts.append(json.loads(proc.stdout.splitlines()[0])["n"])
            self.stop.wait(1.0)


def test_ui_launch_uses_the_profile_and_automation_skips_done_work(finished_state_copy):
    state, env = finished_state_copy
    profile = load_profile()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    queries = CatalogQueries(env)
    before = _run_ids(env)
    assert before, "the finished run's Dagster storage holds no runs"
    with open(ARTIFACTS / "launch-and-automation-ui.log", "w") as log:
        proc, port = start_ui(env, log)
        try:
            location = _location(port)
            queries.start()
            # the daemon evaluates automation on a state where everything is done: no run
            _wait(lambda: len(_automation_ticks(port, location)) >= 2, 240, "two automation ticks")
            assert _runs(port, before) == [], "sensors or automation launched runs for work already done"

            # Materialize one evaluation partition from the asset graph, with no run config
            params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                                   "pipelineName": "__ASSET_JOB", "assetSelection": [{"path": ["eval_rl"]}],
                                   "assetCheckSelection": [{"assetKey": {"path": ["eval_rl"]},
                                                            "name": "no_regression_vs_parent"}]},
                      "runConfigData": {}, "mode": "default",
                      "executionMetadata": {"tags": [{"key": "dagster/partition", "value": "math500"}]}}
            launched = graphql(port, LAUNCH, {"params": params})["launchPipelineExecution"]
            assert launched["__typename"] == "LaunchRunSuccess", launched
            run_id = launched["run"]["runId"]
            status = _wait(lambda: next((r["status"] for r in _runs(port, before) if r["runId"] == run_id
                                         and r["status"] in ("SUCCESS", "FAILURE", "CANCELED")), None),
                           600, "the launched evaluation to finish")
            assert status == "SUCCESS", f"run {run_id} ended {status}; see {log.name}"

            # automation refreshes what is downstream of the new evaluation (the report), nothing else
            report = _wait(lambda: [r for r in _runs(port, before | {run_id})], 300,
                           "automation to refresh the report")
            assert {tuple(a["path"]) for r in report for a in r["assetSelection"]} == {("eval_report",)}
        finally:
            queries.stop.set()
            stop_ui(proc)
    queries.join(timeout=130)

    con = duckdb.connect(str(state / "lake/_catalog/catalog.duckdb"), read_only=True)
    row = con.execute("SELECT config FROM artifacts WHERE asset_key = 'eval_rl' AND partition = 'math500' "
                      "AND run_id = ?", [run_id]).fetchone()
    assert row, "the launched evaluation is not in the catalog"
    used, wanted = json.loads(row[0]), profile.assets["eval_rl"]
    assert {k: used[k] for k in wanted} == wanted  # the profile's settings, not MiMo's full-scale defaults
    assert used["max_tokens"] == 160 and used["max_tokens"] != 32_768
    assert queries.errors == [], queries.errors[:3]
    assert len(queries.counts) >= 3 and queries.counts == sorted(queries.counts)  # no row lost
    total = con.execute("SELECT count(*) FROM artifacts").fetchone()[0]
    assert total >= queries.counts[-1]
