"""kill -9 of the orchestrating process in the middle of training, then a plain rerun, on a copy of
the finished default run: the dead run is marked failed and its `gpu` slot freed, the rerun
reattaches to the trainer that kept running (never a second trainer on the same directory), and the
result is the uninterrupted run's, byte for byte."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from mimo.lake.catalog import Catalog

REPO = Path(__file__).resolve().parents[2]
ASSET = "pretrain_stage3"


def _trainers(state: Path) -> list[int]:
    """Training processes working in this state dir (the job wrappers excluded)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "mimo.train" in cmd and str(state) in cmd and "mimo.cluster.local" not in cmd:
            found.append(proc.info["pid"])
    return found


class TrainerCensus(threading.Thread):
    """Counts this state's trainer processes every 0.2 s; keeps the maximum and every pid seen."""

    def __init__(self, state: Path):
        super().__init__(daemon=True)
        self.state, self.most, self.pids, self.stop = state, 0, set(), threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            pids = _trainers(self.state)
            self.most = max(self.most, len(pids))
            self.pids.update(pids)


def _first_metrics(state: Path, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for messages in state.glob("cluster-jobs/stage3-*/*/pipes_messages.jsonl"):
            if '"step"' in messages.read_text(errors="replace"):
                return
        time.sleep(0.5)
    raise AssertionError("the training job reported no step")


def _latest_hash(state: Path) -> str:
    rows = Catalog(str(state / "lake" / "_catalog" / "catalog.duckdb"), create=False).latest(ASSET)
    return rows[0]["content_hash"]


def test_kill_9_mid_training_then_plain_rerun(tiny_run, finished_state_copy, tmp_path):
    finished, _, _ = tiny_run
    state, env = finished_state_copy
    cmd = [sys.executable, "-m", "pipelines.run", "--asset", ASSET]
    census = TrainerCensus(state)
    census.start()
    first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(tmp_path / "first.log", "w"),
                             stderr=subprocess.STDOUT, start_new_session=True)
    _first_metrics(state)
    orphan = _trainers(state)
    assert len(orphan) == 1, orphan
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)
    time.sleep(1)
    assert _trainers(state) == orphan, "the trainer should outlive its orchestrator"
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    census.stop.set()
    census.join()
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-4000:]
    assert "marked failed" in out, "the dead run was not reaped"
    assert "reattach" in out.lower(), "the rerun did not reattach to the live trainer"
    assert census.most == 1 and census.pids == set(orphan), (census.most, census.pids, orphan)
    assert _latest_hash(state) == _latest_hash(finished), "the result differs from the uninterrupted run"
