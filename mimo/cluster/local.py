"""Local backend: run the job on this machine, in its own process group, torchrun when the spec
asks for more than one process.

A small wrapper (``python -m mimo.cluster.local JOB_DIR``) starts the command, forwards SIGTERM
to it and records its exit code in ``exit_code.json``, so any process (a later Dagster step, a
retried run) can tell how the job ended. The spec's ``time_limit`` is enforced as Slurm does: past
it the command gets SIGTERM, then SIGKILL after ``KILL_WAIT_S``, and the job ends ``TIMEOUT``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

from mimo.cluster.job import (
    EXIT_CODE,
    LAUNCH,
    LOG,
    PIPES_MESSAGES,
    JobHandle,
    JobSpec,
    JobStatus,
    launch_command,
    prepare_job_dir,
    time_limit_seconds,
    write_text_atomic,
)
from mimo.paths import REPO_ROOT

CANCELLED_MARK = "cancelled"
KILL_WAIT_S = 30.0  # Slurm's default KillWait: SIGTERM, then SIGKILL this much later


class LocalBackend:
    """Jobs as process groups on this machine (one node; ``gpus_per_node``/``procs_per_node``
    processes through torchrun)."""

    name = "local"

    def __init__(self, cancel_grace_s: float = 10.0):
        self.cancel_grace_s = cancel_grace_s
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def render(self, spec: JobSpec, job_dir: str, env: dict[str, str]) -> str:
        """Write ``launch.json`` (argv, cwd, env) into ``job_dir``; return its path."""
        if spec.nodes != 1:
            raise ValueError(f"job {spec.name}: the local backend runs one node, the spec asks for {spec.nodes}")
        full_env = {**prepare_job_dir(spec, job_dir), **env}
        argv = launch_command(spec, ["--standalone", "--nnodes=1"])
        launch: dict = {"argv": argv, "cwd": spec.workdir or str(REPO_ROOT), "env": full_env,
                        "time_limit": spec.time_limit, "time_limit_s": time_limit_seconds(spec.time_limit)}
        if (c := spec.companion) is not None:
            if c.nodes != 1:
                raise ValueError(f"job {spec.name}: the local backend runs one node, the companion asks for {c.nodes}")
            launch["companion"] = {"argv": list(c.command), "tasks": c.tasks, "env": dict(c.env),
                                   "secret_env": c.secret_env}
        path = os.path.join(job_dir, LAUNCH)
        write_text_atomic(path, json.dumps(launch, indent=2))
        return path

    def submit(self, spec: JobSpec, job_dir: str, env: dict[str, str]) -> JobHandle:
        self.render(spec, job_dir, env)
        for stale in (EXIT_CODE, CANCELLED_MARK):
            if os.path.exists(os.path.join(job_dir, stale)):
                os.remove(os.path.join(job_dir, stale))
        open(os.path.join(job_dir, PIPES_MESSAGES), "w").close()
        proc = subprocess.Popen([sys.executable, "-m", "mimo.cluster.local", job_dir], start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._procs[proc.pid] = proc
        started = psutil.Process(proc.pid).create_time()
        return JobHandle("local", f"{proc.pid}@{started:.2f}", job_dir, spec.name, spec.fingerprint())

    @staticmethod
    def _process(handle: JobHandle) -> psutil.Process | None:
        """The wrapper process if it is still alive (and is the same process, not a reused pid)."""
        pid, started = handle.job_id.split("@")
        try:
            p = psutil.Process(int(pid))
            if abs(p.create_time() - float(started)) > 0.05 or p.status() == psutil.STATUS_ZOMBIE:
                return None
            return p
        except psutil.Error:
            return None

    @staticmethod
    def _orphans(handle: JobHandle) -> list[psutil.Process]:
        """Processes of the job's process group still alive after its wrapper died (kill -9 of the
        wrapper alone leaves the command running). The group id is the wrapper's pid, which Linux
        does not hand out again while the group has members."""
        pid, started = handle.job_id.split("@")
        pgid = int(pid)
        try:
            if abs(psutil.Process(pgid).create_time() - float(started)) > 0.05:
                return []  # the pid is in use again by a new process: the old group is gone
        except psutil.Error:
            pass
        found = []
        for p in psutil.process_iter(["status"]):
            try:
                if os.getpgid(p.pid) == pgid and p.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except (OSError, psutil.Error):
                continue
        return found

    def status(self, handle: JobHandle) -> JobStatus:
        pid = int(handle.job_id.split("@")[0])
        if pid in self._procs:
            self._procs[pid].poll()  # reap our own child so it does not linger as a zombie
        cancelled = os.path.exists(handle.path(CANCELLED_MARK))
        try:
            with open(handle.path(EXIT_CODE), encoding="utf-8") as f:
                ended = json.load(f)
            rc = int(ended["returncode"])
        except (OSError, ValueError, KeyError, TypeError):
            if self._process(handle) is not None:
                return JobStatus("RUNNING")
            if self._orphans(handle):
                return JobStatus("RUNNING", reason="the wrapper process died; the job's processes still run")
            return JobStatus("CANCELLED" if cancelled else "FAILED", reason="the job's processes ended "
                             "without recording an exit code (killed?)")
        code = f"{rc}:0" if rc >= 0 else f"0:{-rc}"
        if ended.get("timed_out"):
            limit = str(ended.get("time_limit") or "")
            return JobStatus("TIMEOUT", code, f"time limit {limit} reached", raw={"TimeLimit": limit})
        if rc == 0:
            return JobStatus("COMPLETED", code)
        if cancelled:
            return JobStatus("CANCELLED", code)
        return JobStatus("FAILED", code, "NonZeroExitCode" if rc > 0 else f"killed by signal {-rc}")

    def cancel(self, handle: JobHandle) -> None:
        """SIGTERM the job's process group, SIGKILL it after ``cancel_grace_s``."""
        if self._process(handle) is None and not self._orphans(handle):
            return
        open(handle.path(CANCELLED_MARK), "w").close()
        pgid = int(handle.job_id.split("@")[0])  # the wrapper leads its own session / process group
        for sig, wait_s in ((signal.SIGTERM, self.cancel_grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                self.status(handle)
                if self._process(handle) is None and not self._orphans(handle):
                    return
                time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    """Wrapper: run ``launch.json`` of JOB_DIR, log to ``job.log``, record ``exit_code.json``."""
    job_dir = (argv or sys.argv[1:])[0]
    with open(os.path.join(job_dir, LAUNCH), encoding="utf-8") as f:
        launch = json.load(f)
    env = {**os.environ, **launch["env"]}
    companions: list[subprocess.Popen[bytes]] = []
    with open(os.path.join(job_dir, LOG), "ab") as log:
        try:
            companions = _start_companions(launch, env, job_dir)
            child = subprocess.Popen(launch["argv"], cwd=launch["cwd"], env=env,
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            log.write(f"[mimo] cannot start {launch['argv'][0]}: {exc}\n".encode())
            _stop(companions)
            write_text_atomic(os.path.join(job_dir, EXIT_CODE), json.dumps({"returncode": 127}))
            return 0

    def forward(signo: int, _frame: object) -> None:
        for p in [child, *companions]:
            if p.poll() is None:
                p.send_signal(signo)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    rc, timed_out = _wait(child, launch.get("time_limit_s"), os.path.join(job_dir, LOG), launch.get("time_limit"))
    _stop(companions)
    write_text_atomic(os.path.join(job_dir, EXIT_CODE), json.dumps(
        {"returncode": rc, **({"timed_out": True, "time_limit": launch.get("time_limit")} if timed_out else {})}))
    return 0


def _wait(child: subprocess.Popen[bytes], limit_s: float | None, log_path: str, limit: str | None) -> tuple[int, bool]:
    """The command's exit code, and whether it was stopped at its time limit (SIGTERM, then SIGKILL)."""
    try:
        return child.wait(timeout=limit_s), False
    except subprocess.TimeoutExpired:
        pass
    with open(log_path, "ab") as log:
        log.write(f"[mimo] time limit {limit} reached: stopping the job (SIGTERM, SIGKILL after "
                  f"{KILL_WAIT_S:g}s)\n".encode())
    child.terminate()
    try:
        return child.wait(timeout=KILL_WAIT_S), True
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait(), True


def _start_companions(launch: dict, env: dict[str, str], job_dir: str) -> list[subprocess.Popen[bytes]]:
    """The companion tasks (``MIMO_TASK_ID`` 0..n-1), each logging to ``companion/task-K.log``;
    the shared secret is made here when the spec asks for one."""
    c = launch.get("companion")
    if not c:
        return []
    if c.get("secret_env"):
        import secrets

        env[c["secret_env"]] = secrets.token_hex(16)
    procs = []
    for k in range(c["tasks"]):
        with open(os.path.join(env["MIMO_COMPANION_DIR"], f"task-{k}.log"), "ab") as log:
            procs.append(subprocess.Popen(c["argv"], cwd=launch["cwd"], env={**env, **c["env"], "MIMO_TASK_ID": str(k)},
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT))
    return procs


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


if __name__ == "__main__":
    sys.exit(main())
