"""A run whose process is killed with SIGKILL gives its `gpu` pool slot back: the next pool step
starts, through ``reap_dead_runs`` (the command-line path) and through the daemon's run
monitoring (the UI path). Real instance, real processes, the repository's dagster.yaml."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from mimo.paths import REPO_ROOT, state_env
from pipelines.run_health import reap_dead_runs

JOBS = "tests.pipelines.jobs.pool_sleeper"


@pytest.fixture
def pool_env(tmp_path, monkeypatch):
    """A fresh state dir on the repository's dagster.yaml, as env for subprocesses and this one."""
    state = tmp_path / "state"
    env = state_env(state)
    for key in ("MIMO_DAGSTER_STORAGE", "MIMO_DAGSTER_ARTIFACTS", "MIMO_DAGSTER_LOGS"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(key, env[key])
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    env["MIMO_TEST_MARKER"] = str(tmp_path / "holding")
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def _start(env: dict[str, str], asset: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", JOBS, asset], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _kill_slot_holder(env: dict[str, str]) -> tuple[dg.DagsterInstance, str]:
    """Start a run that takes the `gpu` slot, SIGKILL its process; the run and slot stay behind."""
    holder = _start(env, "slot_holder")
    marker = Path(env["MIMO_TEST_MARKER"])
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert holder.poll() is None, "the slot holder exited before taking its slot"
        assert time.monotonic() < deadline, "the slot holder never started"
        time.sleep(0.2)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    instance = dg.DagsterInstance.get()
    (record,) = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    assert instance.event_log_storage.get_concurrency_info("gpu").claimed_slots, "the killed run holds no slot"
    return instance, record.dagster_run.run_id


def _assert_blocked_then_runs(waiter: subprocess.Popen, unblock, timeout_s: float) -> None:
    """The pool step waits while the dead run holds the slot, and finishes once it is freed."""
    time.sleep(4)
    assert waiter.poll() is None, "the next gpu step ran although the dead run held the only slot"
    unblock()
    assert waiter.wait(timeout_s) == 0


def test_reap_marks_the_killed_run_failed_and_the_next_pool_step_starts(pool_env):
    instance, dead_run = _kill_slot_holder(pool_env)
    waiter = _start(pool_env, "quick_step")
    reaped: list = []
    try:
        _assert_blocked_then_runs(waiter, lambda: reaped.extend(reap_dead_runs(instance)), 60)
    finally:
        waiter.kill()
    assert [run_id for run_id, _ in reaped] == [dead_run]
    run = instance.get_run_by_id(dead_run)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert not instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
    assert reap_dead_runs(instance) == []  # nothing left to do is normal


def test_live_runs_are_left_alone(pool_env):
    holder = _start(pool_env, "slot_holder")
    try:
        deadline = time.monotonic() + 120
        while not Path(pool_env["MIMO_TEST_MARKER"]).exists():
            assert time.monotonic() < deadline
            time.sleep(0.2)
        instance = dg.DagsterInstance.get()
        assert reap_dead_runs(instance) == []
        (record,) = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        assert instance.run_launcher.check_run_worker_health(record.dagster_run).status.value == "RUNNING"
    finally:
        holder.kill()
        holder.wait(10)


def test_daemon_run_monitoring_frees_the_slot_of_a_killed_run(pool_env):
    instance, dead_run = _kill_slot_holder(pool_env)
    waiter = _start(pool_env, "quick_step")
    daemon_box: list[subprocess.Popen] = []

    def start_daemon() -> None:
        daemon_box.append(subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-m", JOBS], cwd=REPO_ROOT,
            env=pool_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    try:
        _assert_blocked_then_runs(waiter, start_daemon, 150)
    finally:
        waiter.kill()
        for daemon in daemon_box:
            os.killpg(daemon.pid, signal.SIGTERM)
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
    run = instance.get_run_by_id(dead_run)
    assert run.status == dg.DagsterRunStatus.FAILURE
    messages = [r.event_log_entry.message for r in instance.get_records_for_run(
        dead_run, of_type=dg.DagsterEventType.RUN_FAILURE).records]
    assert any("is gone" in m for m in messages), messages
