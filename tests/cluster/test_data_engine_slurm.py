"""The data engine on the test Slurm: a stage is an array job, a failed task is relaunched alone,
and the MinHash stages give the in-memory pass's clusters."""

from __future__ import annotations

from pathlib import Path

import pytest

from mimo.data.dedup import minhash_dedup
from mimo.data.dedup.stages import multistage_minhash
from mimo.data.engine import EngineConfig, StageFailed, run_stage
from resources.cluster import ClusterResource
from tests.data.engine_steps import CountRuns, FailOnce
from tests.data.test_dedup_stages import _as_global, _corpus, _shards

pytestmark = [pytest.mark.timeout(600), pytest.mark.usefixtures("slurm_cluster")]


def _engine(**kw) -> EngineConfig:
    cluster = ClusterResource(backend="slurm", job_root="/tmp/unused", poll_interval_s=0.5)
    return EngineConfig.from_cluster(cluster, workers=2, mem_per_cpu_gb=1, **kw)


def _runs(d: Path) -> list[int]:
    return sorted(int(x) for x in (d / "runs").read_text().split())


def test_a_stage_is_an_array_job_and_a_failed_task_is_relaunched_alone(tmp_path):
    seen: list[tuple[str, int, int]] = []
    steps = [CountRuns(str(tmp_path)), FailOnce(str(tmp_path), rank=1)]
    run = run_stage("flaky stage", steps, 3, tmp_path / "logs", _engine(retries=1),
                    progress=lambda name, done, total: seen.append((name, done, total)))
    assert _runs(tmp_path) == [0, 1, 1, 2]
    assert sorted(run.peak_rss_mb) == [0, 1, 2]
    assert seen[-1] == ("flaky stage", 3, 3)  # a name with a space is a valid Slurm job name
    assert "#SBATCH --array=0-0" in (tmp_path / "logs" / "launch_script.slurm").read_text()  # the relaunch: rank 1 only


def test_a_task_that_keeps_failing_is_reported_with_its_slurm_log(tmp_path):
    steps = [CountRuns(str(tmp_path)), FailOnce(str(tmp_path), rank=0, always=True)]
    with pytest.raises(StageFailed) as err:
        run_stage("broken", steps, 2, tmp_path / "logs", _engine(retries=0))
    assert [f.rank for f in err.value.failures] == [0]
    assert "planted failure on rank 0" in str(err.value) and "array job" in str(err.value)
    assert (tmp_path / "logs" / "completions" / "00001").exists()


def test_minhash_stages_on_slurm_match_the_in_memory_pass(tmp_path):
    texts, size = _corpus(600, seed=3), 300
    res = multistage_minhash(_shards(tmp_path, texts, size), tmp_path / "work", engine=_engine(),
                             max_bucket_records=400)
    ref = minhash_dedup(texts)
    assert res.parts > 1 and res.n_removed == ref.n_removed > 50
    import numpy as np

    assert _as_global(res, size) == {(int(i), int(ref.cluster_id[i])) for i in np.flatnonzero(~ref.keep)}
