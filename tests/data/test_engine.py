"""The data engine: datatrove pipelines as tasks in worker processes, failed tasks retried alone."""

from pathlib import Path

import pytest

from mimo.data.engine import EngineConfig, StageFailed, run_stage
from tests.data.engine_steps import CountRuns, FailOnce


def _runs(d: Path) -> list[int]:
    return sorted(int(x) for x in (d / "runs").read_text().split())


def test_every_task_runs_once_and_a_rerun_skips_completed_tasks(tmp_path):
    run = run_stage("count", [CountRuns(str(tmp_path))], 4, tmp_path / "logs", EngineConfig(workers=2))
    assert _runs(tmp_path) == [0, 1, 2, 3]
    assert sorted(run.peak_rss_mb) == [0, 1, 2, 3] and run.max_rss_mb > 10
    run_stage("count", [CountRuns(str(tmp_path))], 4, tmp_path / "logs", EngineConfig(workers=2))
    assert _runs(tmp_path) == [0, 1, 2, 3]  # nothing ran again


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_failed_or_killed_task_is_retried_alone(tmp_path, how):
    steps = [CountRuns(str(tmp_path)), FailOnce(str(tmp_path), rank=2, how=how)]
    run_stage("flaky", steps, 4, tmp_path / "logs", EngineConfig(workers=2, retries=1))
    assert _runs(tmp_path) == [0, 1, 2, 2, 3]  # rank 2 twice, the others once
    assert (tmp_path / "logs" / "completions" / "00002").exists()


def test_a_task_that_keeps_failing_is_reported_while_the_rest_complete(tmp_path):
    steps = [CountRuns(str(tmp_path)), FailOnce(str(tmp_path), rank=1, always=True)]
    with pytest.raises(StageFailed) as err:
        run_stage("broken", steps, 3, tmp_path / "logs", EngineConfig(workers=2, retries=1))
    assert [f.rank for f in err.value.failures] == [1] and err.value.failures[0].attempts == 2
    assert "planted failure on rank 1" in str(err.value) and "rerun runs only the failed ones" in str(err.value)
    completed = sorted(p.name for p in (tmp_path / "logs" / "completions").iterdir())
    assert completed == ["00000", "00002"]
    # fixed: the rerun runs rank 1 only
    run_stage("broken", [CountRuns(str(tmp_path))], 3, tmp_path / "logs", EngineConfig(workers=2))
    assert _runs(tmp_path) == [0, 1, 1, 1, 2]


def test_a_task_past_its_deadline_is_killed_and_reported(tmp_path):
    steps = [CountRuns(str(tmp_path)), FailOnce(str(tmp_path), rank=0, how="hang", always=True)]
    with pytest.raises(StageFailed, match="deadline of 2s"):
        run_stage("hung", steps, 1, tmp_path / "logs", EngineConfig(workers=1, retries=0, task_timeout_s=2))
