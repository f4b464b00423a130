"""One job per job name across Dagster runs (local backend, real processes, a real on-disk Dagster
instance): a plain rerun after kill -9 of the orchestrating run worker reattaches to the job that
trains on; two concurrent plain runs share one job; a live job with another spec is waited for; a
completed job is reattached instead of retrained. A sampler watches the process table all along:
never more than one trainer process on the output directory."""

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

import psutil

from mimo.cluster import JobHandle, JobSpec, JobStatus
from mimo.cluster.local import LocalBackend
from mimo.cluster.registry import JobRegistry, LiveJob, decide
from tests.cluster.conftest import REPO, job_dirs, run_logs
from tests.cluster.jobs import live_defs
from tests.cluster.jobs.live_defs import CKPT_JOB


@contextmanager
def patched_env(env: dict[str, str]) -> Iterator[None]:
    old = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


def live_env(tmp_path: Path, name: str, job_root: str, steps: int, step_s: float, wait_s: float = 60) -> dict[str, str]:
    """The environment of the run workers; the on-disk Dagster instance they share is created here
    (two workers migrating a fresh SQLite storage at once would race)."""
    (tmp_path / "dagster_home").mkdir(exist_ok=True)
    env = {**os.environ, "MIMO_TEST_JOB_NAME": name, "MIMO_TEST_JOB_ROOT": job_root,
           "MIMO_TEST_OUT": str(tmp_path / "work" / "stage"), "MIMO_TEST_STEPS": str(steps),
           "MIMO_TEST_STEP_S": str(step_s), "MIMO_TEST_WAIT_S": str(wait_s),
           "MIMO_TEST_DAGSTER_HOME": str(tmp_path / "dagster_home"), "MIMO_STATE_DIR": str(tmp_path / "state")}
    with patched_env(env), live_defs.instance() as instance:
        instance.get_runs(limit=1)
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    """A run worker in its own process: one plain run of ``live_defs.training_job``."""
    return subprocess.Popen([sys.executable, "-m", "tests.cluster.jobs.live_defs"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def worker_result(proc: subprocess.Popen, timeout_s: float = 120) -> dict:
    out = proc.communicate(timeout=timeout_s)[0]
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the run worker printed no result (rc {proc.returncode}):\n{out[-4000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def run_here(env: dict[str, str]) -> tuple[dict, list[str]]:
    """One plain run in this process (no parent run, no tags): its outcome and log messages. The job
    is built afresh (``execute_job`` would reuse a reconstructed job, and its resource, across tests)."""
    with patched_env(env), live_defs.instance() as instance:
        res = live_defs.training_job().execute_in_process(instance=instance, raise_on_error=False)
        return live_defs.outcome(res), [m for _, m in run_logs(instance, res.run_id)]


class ProcSampler:
    """Samples the process table every 20 ms: trainer processes (``ckpt_job.py --out <out>``) alive at once."""

    def __init__(self, out: str):
        self.out, self.max_alive, self.samples, self.pids = out, 0, 0, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            alive = set()
            for p in psutil.process_iter(["cmdline"]):
                cmd = p.info["cmdline"] or []
                if CKPT_JOB in cmd and self.out in cmd:
                    alive.add(p.pid)
            self.pids |= alive
            self.max_alive = max(self.max_alive, len(alive))
            self.samples += 1
            self._stop.wait(0.02)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def progress(out: str) -> list[tuple[int, int]]:
    """(step, pid) for every step trained, in order."""
    path = Path(out, "progress.log")
    if not path.exists():
        return []
    return [(int(s), int(p)) for s, p in (line.split() for line in path.read_text().splitlines() if line.strip())]


def wait_for(pred, timeout_s: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def reference_value(tmp_path: Path, steps: int) -> str:
    """What an uninterrupted run of the stand-in trainer ends with (run directly, no Dagster)."""
    out = tmp_path / f"reference-{steps}"
    subprocess.run([sys.executable, CKPT_JOB, "--out", str(out), "--steps", str(steps)], cwd=REPO, check=True,
                   capture_output=True, env={**os.environ, "MIMO_STATE_DIR": str(tmp_path / "state")})
    return json.loads((out / "final.json").read_text())["value"]


def test_plain_rerun_after_kill_9_of_the_run_worker_reattaches(tmp_path, job_root, unique_name):
    env = live_env(tmp_path, unique_name, job_root, steps=40, step_s=0.15)
    out = env["MIMO_TEST_OUT"]
    with ProcSampler(out) as procs:
        worker = start_worker(env)
        try:
            wait_for(lambda: len(progress(out)) >= 5, what="the job to train 5 steps")
            record = LiveJob.from_json(Path(job_root, unique_name, "active.json").read_text())
            worker.kill()  # kill -9 of the orchestrating process: the job trains on
            worker.wait()
            at_kill = len(progress(out))
            result, logs = run_here(env)  # a plain new run: no parent, no tags
        finally:
            if worker.poll() is None:
                worker.kill()
    assert result["success"], result["failure"]
    md = result["metadata"]
    assert md["cluster/reattached"] is True and md["cluster/job_id"] == record.handle.job_id
    assert any("reattaching to local job" in m and "is still RUNNING with the same spec" in m for m in logs), logs
    assert at_kill < 40  # the new run attached while the job was mid-way
    assert md["value"] == reference_value(tmp_path, 40) and md["steps"] == 40 and md["started_at"] == 0
    assert md["cluster/custom_messages"] == 40  # the messages from before the kill too
    assert procs.samples > 50 and procs.max_alive == 1 and len(procs.pids) == 1
    steps = progress(out)
    assert [s for s, _ in steps] == list(range(40)) and {p for _, p in steps} == procs.pids  # each step once
    assert len(job_dirs(job_root, unique_name)) == 1


def test_two_concurrent_plain_runs_share_one_job(tmp_path, job_root, unique_name):
    env = live_env(tmp_path, unique_name, job_root, steps=20, step_s=0.1)
    out = env["MIMO_TEST_OUT"]
    with ProcSampler(out) as procs:
        workers = [start_worker(env) for _ in range(2)]
        try:
            results = [worker_result(w) for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
    assert all(r["success"] for r in results), [r["failure"] for r in results]
    mds = [r["metadata"] for r in results]
    assert mds[0]["cluster/job_id"] == mds[1]["cluster/job_id"]
    assert sorted(md["cluster/reattached"] for md in mds) == [False, True]
    expected = reference_value(tmp_path, 20)
    assert all(md["value"] == expected and md["cluster/custom_messages"] == 20 for md in mds)
    assert procs.samples > 20 and procs.max_alive == 1 and len(procs.pids) == 1
    assert [s for s, _ in progress(out)] == list(range(20))
    assert len(job_dirs(job_root, unique_name)) == 1

    # a later plain run of the same spec attaches to the completed job: nothing is trained again
    again, logs = run_here(env)
    assert again["success"] and again["metadata"]["cluster/reattached"] is True
    assert again["metadata"]["cluster/job_id"] == mds[0]["cluster/job_id"] and again["metadata"]["value"] == expected
    assert any("COMPLETED with the same spec" in m for m in logs), logs
    assert len(progress(out)) == 20 and len(job_dirs(job_root, unique_name)) == 1


def test_live_job_with_another_spec_is_waited_for(tmp_path, job_root, unique_name):
    env = live_env(tmp_path, unique_name, job_root, steps=20, step_s=0.3)
    out = env["MIMO_TEST_OUT"]
    with ProcSampler(out) as procs:
        worker = start_worker(env)
        try:
            wait_for(lambda: len(progress(out)) >= 2, what="the first job to train")
            handle = LiveJob.from_json(Path(job_root, unique_name, "active.json").read_text()).handle
            # another spec (more steps) under the same name, little patience: a clear failure, no job
            impatient, _ = run_here({**env, "MIMO_TEST_STEPS": "26", "MIMO_TEST_WAIT_S": "0.5"})
            assert not impatient["success"]
            msg = impatient["failure"]
            assert f"local job {handle.job_id}" in msg and "is still RUNNING with another spec" in msg, msg
            assert f"kill -TERM -{handle.job_id.split('@')[0]}" in msg and "active.json" in msg, msg
            assert len(job_dirs(job_root, unique_name)) == 1
            # with patience it waits for the live job to end, then submits; the new job resumes from its checkpoint
            assert LocalBackend().status(handle).state == "RUNNING" and len(progress(out)) < 15
            patient, logs = run_here({**env, "MIMO_TEST_STEPS": "26"})
            first = worker_result(worker)
        finally:
            if worker.poll() is None:
                worker.kill()
    assert first["success"] and first["metadata"]["value"] == reference_value(tmp_path, 20)
    assert patient["success"], patient["failure"]
    md = patient["metadata"]
    assert md["cluster/reattached"] is False and md["cluster/job_id"] != handle.job_id
    assert md["started_at"] == 20 and md["value"] == reference_value(tmp_path, 26)
    assert any("waiting for it to end before submitting" in m for m in logs), logs
    assert procs.max_alive == 1 and len(procs.pids) == 2
    assert [s for s, _ in progress(out)] == list(range(26))
    assert len(job_dirs(job_root, unique_name)) == 2


def test_decide_covers_every_case():
    h = JobHandle("local", "1@2.00", "/d", "n", "fp")
    rec = LiveJob(h, "run", "fp", 0.0, "host", 1)
    assert decide(None, None, "fp").action == "submit"
    assert decide(rec, None, "fp").action == "wait"  # cannot tell: never risk a second job
    assert decide(rec, JobStatus("RUNNING"), "fp").action == "reattach"
    assert decide(rec, JobStatus("PENDING"), "other").action == "wait"
    assert decide(rec, JobStatus("COMPLETED"), "fp").action == "reattach"
    assert decide(rec, JobStatus("COMPLETED"), "other").action == "submit"
    for ended in ("FAILED", "CANCELLED", "TIMEOUT", "UNKNOWN", "NODE_FAIL"):
        assert decide(rec, JobStatus(ended), "fp").action == "submit"


def test_record_survives_and_a_corrupt_one_is_ignored(tmp_path):
    reg = JobRegistry(str(tmp_path), "job-a")
    assert reg.read() is None
    h = JobHandle("slurm", "42", str(tmp_path / "job-a" / "x"), "job-a", "fp")
    reg.write(h, "run-1")
    assert reg.read().handle == h and reg.read().run_id == "run-1"
    Path(reg.path).write_text("{not json")
    warnings: list[str] = []
    decision, record = reg.check("fp", lambda _h: JobStatus("RUNNING"), warnings.append)
    assert record is None and decision.action == "submit" and "unreadable live-job record" in warnings[0]


def test_local_job_whose_wrapper_died_still_counts_as_running(job_root, unique_name):
    """kill -9 of the local wrapper alone leaves the command running: the job stays RUNNING (so no
    second job is submitted) and cancel still stops its process group."""
    backend = LocalBackend(cancel_grace_s=2.0)
    spec = JobSpec(name=unique_name, command=[sys.executable, "-c", "import time; time.sleep(60)"])
    handle = backend.submit(spec, os.path.join(job_root, unique_name, "j"), {})
    wrapper = psutil.Process(int(handle.job_id.split("@")[0]))
    child = wait_for(lambda: wrapper.children(), what="the job's command to start")[0]
    wrapper.kill()
    wait_for(lambda: backend._process(handle) is None, what="the wrapper to die")
    status = backend.status(handle)
    assert status.state == "RUNNING" and "wrapper process died" in (status.reason or "")
    assert child.is_running()
    backend.cancel(handle)
    wait_for(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE, what="the command to stop")
    assert backend.status(handle).state == "CANCELLED"
