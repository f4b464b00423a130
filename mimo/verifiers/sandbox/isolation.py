"""Run one guest process in an isolated sandbox, with limits and a hard deadline.

Strong isolation (``bubblewrap``): when the grader is root it first drops to an unprivileged uid
with ``setpriv`` (no groups, no capabilities, no-new-privs), then ``bwrap`` creates new user, PID,
network, IPC, UTS and cgroup namespaces (no further user namespaces inside), clears the
environment, mounts ``/usr`` read-only, a fresh ``/proc`` (only the sandbox's processes) and a
minimal ``/dev``, a size-limited tmpfs on ``/tmp`` as the only writable place, and remounts ``/``
read-only. The guest is PID 1 of its namespace (the only other process the sandbox can see is what
it starts itself); it sets CPU, memory, process, open-file and file-size limits on itself before
any candidate code runs. At the deadline the grader kills that PID 1, and the kernel kills every
other process of the namespace with it.

Weak isolation (only when the caller accepts it): the same guest and limits as an unprivileged uid
(when root) in a fresh temp directory, without namespaces.

All data crosses in memfds: the payload (never in argv or the environment), stdin, stdout, stderr
and an ``extra`` channel where the guest writes ``G`` as soon as it is up, then its result.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

GUEST_DIR = Path(__file__).resolve().parent / "guest"
MODES = ("stdio", "record", "verify")
DEFAULT_UID = 65534
SANDBOX_GUEST_DIR = "/opt/mimo-guest"
_MARKER = b"G"
_STDERR_KEEP = 8192


class SandboxUnavailable(RuntimeError):
    """Strong isolation is not available here and weak isolation was not accepted."""


@dataclass(frozen=True)
class Limits:
    """Per-process limits: CPU seconds (rounded up), address space, processes, files, output."""

    time_s: float = 4.0
    memory_mb: int = 512
    nproc: int = 32
    nofile: int = 64
    output_bytes: int = 16 << 20
    tmp_bytes: int = 64 << 20

    def wall_s(self) -> float:
        """Wall-clock deadline: 1.5x the time limit plus one second of start-up allowance."""
        return 1.5 * self.time_s + 1.0


@dataclass
class RunResult:
    """What one sandboxed guest run left behind."""

    started: bool
    exit_code: int | None = None
    timed_out: bool = False
    stdout: bytes = b""
    stderr: bytes = b""
    extra: bytes = b""
    wall_s: float = 0.0
    error: str = ""


@cache
def guest_source(mode: str) -> str:
    """The source of a guest mode: common.py followed by the mode's file."""
    if mode not in MODES:
        raise ValueError(f"unknown guest mode {mode!r}")
    return (GUEST_DIR / "common.py").read_text() + "\n\n" + (GUEST_DIR / f"{mode}.py").read_text()


def _world_traversable_tmp() -> str:
    """TMPDIR if the unprivileged uid can reach into it, else /tmp (the guest dir is bound from here)."""
    base = Path(tempfile.gettempdir()).resolve()
    if all(p.stat().st_mode & 0o001 for p in (base, *base.parents)):
        return str(base)
    return "/tmp"


def build_guest_dir(python: str) -> str:
    """Byte-compile every guest mode with the sandbox's interpreter into a fresh world-readable
    directory (``<mode>.pyc``; saves the compile in every sandboxed process). Removed at exit."""
    out = tempfile.mkdtemp(prefix="mimo-guest-", dir=_world_traversable_tmp())
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(out, True))  # not from forked children
    os.chmod(out, 0o755)
    for mode in MODES:
        src = Path(out) / f"{mode}.py"
        src.write_text(guest_source(mode))
    script = ("import py_compile, sys\n"
              "for m in sys.argv[2:]:\n"
              "    py_compile.compile(f'{sys.argv[1]}/{m}.py', cfile=f'{sys.argv[1]}/{m}.pyc', doraise=True)\n")
    subprocess.run([python, "-S", "-c", script, out, *MODES], check=True, capture_output=True, timeout=60,
                   env={"PATH": "/usr/bin:/bin"})
    for mode in MODES:
        (Path(out) / f"{mode}.py").unlink()
        os.chmod(Path(out) / f"{mode}.pyc", 0o644)
    return out


def _memfd(name: str, data: bytes = b"") -> int:
    fd = os.memfd_create(f"mimo-{name}", os.MFD_CLOEXEC)  # children get only what Popen passes
    if data:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_memfd(fd: int, limit: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, left = [], limit
    while left > 0:
        b = os.read(fd, min(left, 1 << 20))
        if not b:
            break
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc: subprocess.Popen, timeout: float) -> int | None:
    """Exit code, or None at the deadline (a pidfd wakes us at exit: no polling latency)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except OSError:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(max(0.0, timeout) * 1000):
            return None
        return proc.wait()
    finally:
        os.close(pidfd)


def _stop(proc: subprocess.Popen, status_fd: int | None) -> None:
    """Kill a sandbox at its deadline. With bubblewrap, kill the PID namespace's init first (every
    process of the sandbox dies with it) so that bwrap itself reaps it and exits: no orphan."""
    if status_fd is not None:
        try:
            first = _read_memfd(status_fd, 4096).split(b"\n", 1)[0]
            pid = int(json.loads(first)["child-pid"]) if first else 0
        except (ValueError, KeyError, TypeError):
            pid = 0
        if pid > 1:
            try:
                os.kill(pid, signal.SIGKILL)
                proc.wait(timeout=5)
                return
            except (ProcessLookupError, PermissionError, subprocess.TimeoutExpired):
                pass
    _kill_group(proc.pid)
    proc.wait()


@dataclass
class Sandbox:
    """A configured way to run guests: ``kind`` is ``bubblewrap`` (strong) or ``weak``."""

    kind: str
    python: str = "/usr/bin/python3"
    uid: int = DEFAULT_UID
    bwrap: str = "bwrap"
    python_prefix: str = "/usr"
    python_version: str = ""
    bwrap_version: str = ""
    disable_userns: bool = True
    guest_dir: str = ""

    @property
    def strong(self) -> bool:
        return self.kind == "bubblewrap"

    def env(self, home: str = "/tmp") -> dict[str, str]:
        """The whole environment of a guest: nothing of the caller's."""
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
                "PYTHONIOENCODING": "utf-8", "HOME": home, "TMPDIR": home}

    def _drop_privileges(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs"]

    def _bwrap_args(self, limits: Limits, status_fd: int) -> list[str]:
        args = [self.bwrap, "--json-status-fd", str(status_fd), "--unshare-all", "--unshare-user"]
        if self.disable_userns:
            args.append("--disable-userns")
        args += ["--as-pid-1", "--die-with-parent", "--new-session", "--clearenv"]
        for k, v in self.env().items():
            args += ["--setenv", k, v]
        args += ["--uid", str(self.uid), "--gid", str(self.uid), "--hostname", "sandbox", "--cap-drop", "ALL",
                 "--ro-bind", "/usr", "/usr"]
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/") / top
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        if not (self.python_prefix == "/usr" or self.python_prefix.startswith("/usr/")):
            args += ["--ro-bind", self.python_prefix, self.python_prefix]  # must be readable by the uid
        args += ["--ro-bind", self.guest_dir, SANDBOX_GUEST_DIR]
        args += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
                 "--chdir", "/tmp", "--remount-ro", "/dev", "--remount-ro", "/"]
        return args

    def command(self, mode: str, payload_fd: int, extra_fd: int, status_fd: int, limits: Limits) -> list[str]:
        """The argv that runs guest ``mode`` (fds are the parent's numbers, inherited as-is)."""
        where = SANDBOX_GUEST_DIR if self.strong else self.guest_dir
        guest = [self.python, "-S", "-B", "-P", f"{where}/{mode}.pyc", str(payload_fd), str(extra_fd),
                 str(max(1, math.ceil(limits.time_s))), str(limits.memory_mb), str(limits.nproc),
                 str(limits.nofile), str(limits.output_bytes)]
        if self.strong:
            return self._drop_privileges() + self._bwrap_args(limits, status_fd) + guest
        return self._drop_privileges() + guest

    def run(self, mode: str, payload: bytes, limits: Limits, stdin: bytes = b"",
            wall_s: float | None = None) -> RunResult:
        """Run guest ``mode`` on ``payload``; never raises for anything the guest does."""
        fds: list[int] = []
        workdir = None
        try:
            payload_fd, stdin_fd, out_fd, err_fd, extra_fd, status_fd = (
                _memfd("payload", payload), _memfd("stdin", stdin), _memfd("stdout"), _memfd("stderr"),
                _memfd("extra"), _memfd("status"))
            fds += [payload_fd, stdin_fd, out_fd, err_fd, extra_fd, status_fd]
            pass_fds = [payload_fd, extra_fd]
            if self.strong:
                pass_fds.append(status_fd)
            if not self.strong:
                workdir = tempfile.mkdtemp(prefix="mimo-weak-")
                if os.geteuid() == 0:
                    os.chown(workdir, self.uid, self.uid)
            start = time.monotonic()
            try:
                proc = subprocess.Popen(self.command(mode, payload_fd, extra_fd, status_fd, limits), stdin=stdin_fd,
                                        stdout=out_fd, stderr=err_fd, pass_fds=pass_fds, env=self.env(workdir or "/tmp"),
                                        cwd=workdir or "/", start_new_session=True, close_fds=True)
            except OSError as e:
                return RunResult(started=False, error=f"cannot start the sandbox: {e}")
            rc = _wait(proc, wall_s if wall_s is not None else limits.wall_s())
            timed_out = rc is None
            if rc is not None and rc < 0:  # weak mode: killed by a signal, as bwrap reports it
                rc = 128 - rc
            if timed_out:
                _stop(proc, status_fd if self.strong else None)
            _kill_group(proc.pid)
            wall = time.monotonic() - start
            extra = _read_memfd(extra_fd, limits.output_bytes + 1)
            stderr = _read_memfd(err_fd, 1 << 20)[-_STDERR_KEEP:]
            started = extra[:1] == _MARKER
            return RunResult(started=started, exit_code=rc, timed_out=timed_out,
                             stdout=_read_memfd(out_fd, limits.output_bytes + 1), stderr=stderr,
                             extra=extra[1:], wall_s=wall,
                             error="" if started else f"sandbox did not start: {stderr.decode(errors='replace')[-500:]}")
        finally:
            for fd in fds:
                os.close(fd)
            if workdir:
                shutil.rmtree(workdir, ignore_errors=True)

    def info(self) -> dict:
        """Metadata: which isolation is in force and what it enforces."""
        common = {"python": self.python, "python_version": self.python_version, "uid": self.uid,
                  "limits": ["cpu_time", "wall_time", "address_space", "processes", "open_files", "file_size",
                             "no_core_dumps"],
                  "kill": "process group at the deadline"}
        if self.strong:
            return {"isolation": "bubblewrap", "strong": True, "bwrap_version": self.bwrap_version,
                    "namespaces": ["user", "pid", "net", "ipc", "uts", "cgroup", "mount"],
                    "nested_userns_disabled": self.disable_userns, "capabilities": "none",
                    "filesystem": "/usr read-only, fresh /proc and /dev, tmpfs /tmp the only writable path",
                    "environment": "cleared", "network": "none (loopback only, down)", **common}
        return {"isolation": "weak", "strong": False,
                "filesystem": "host filesystem, unprivileged uid when the grader is root, fresh cwd",
                "environment": "cleared", "network": "host network", **common}


def _probe_python(python: str) -> tuple[str, str] | None:
    try:
        out = subprocess.run([python, "-S", "-c", "import sys; print(sys.base_prefix); print(sys.version.split()[0])"],
                             capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"}, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    return (lines[0], lines[1]) if out.returncode == 0 and len(lines) == 2 else None


def _self_test(box: Sandbox) -> str:
    res = box.run("stdio", b"print(6 * 7)", Limits(time_s=10, memory_mb=256))
    if not res.started:
        return res.error or "did not start"
    if res.stdout != b"42\n":
        return f"self-test printed {res.stdout[:200]!r} (exit {res.exit_code}): {res.stderr[-300:]!r}"
    return ""


@cache
def _detect() -> tuple[Sandbox | None, str, Sandbox | None]:
    python = os.environ.get("MIMO_SANDBOX_PYTHON") or ("/usr/bin/python3" if os.path.exists("/usr/bin/python3")
                                                       else os.path.realpath(shutil.which("python3") or "python3"))
    probed = _probe_python(python)
    if probed is None:
        return None, f"no working Python for the sandbox at {python}", None
    prefix, py_version = probed
    uid = int(os.environ.get("MIMO_SANDBOX_UID", DEFAULT_UID))
    try:
        guest_dir = build_guest_dir(python)
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"cannot prepare the guest code for {python}: {e}", None
    weak = Sandbox(kind="weak", python=python, uid=uid, python_prefix=prefix, python_version=py_version,
                   guest_dir=guest_dir)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bubblewrap (bwrap) is not installed: run scripts/system-deps.sh", weak
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return None, "setpriv (util-linux) is missing: cannot drop root before entering the sandbox", weak
    help_text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30, check=False).stdout
    bw_version = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=30,
                                check=False).stdout.strip()
    box = Sandbox(kind="bubblewrap", python=python, uid=uid, bwrap=bwrap, python_prefix=prefix,
                  python_version=py_version, bwrap_version=bw_version.split()[-1] if bw_version else "",
                  disable_userns="--disable-userns" in help_text, guest_dir=guest_dir)
    problem = _self_test(box)
    if problem:
        return None, f"bubblewrap sandbox failed its self-test: {problem}", weak
    return box, "", weak


def choose_sandbox(strong: Sandbox | None, reason: str, weak: Sandbox | None, allow_weak_isolation: bool) -> Sandbox:
    """The strong sandbox if any; the weak one only when accepted; else :class:`SandboxUnavailable`."""
    if strong is not None:
        return strong
    if allow_weak_isolation and weak is not None:
        return weak
    raise SandboxUnavailable(f"{reason}. Strong isolation is required to run untrusted code; pass "
                             "allow_weak_isolation=True (--allow-weak-isolation) to accept weak isolation.")


def weak_sandbox() -> Sandbox | None:
    """The weak fallback configured for this machine (None if no usable Python)."""
    return _detect()[2]


def get_sandbox(allow_weak_isolation: bool = False) -> Sandbox:
    """The strongest sandbox available here (detected once per process); see :func:`choose_sandbox`."""
    return choose_sandbox(*_detect(), allow_weak_isolation)


def isolation_info(allow_weak_isolation: bool = False) -> dict:
    """Metadata about the isolation that :func:`get_sandbox` would use (or why none is available)."""
    try:
        return get_sandbox(allow_weak_isolation).info()
    except SandboxUnavailable as e:
        return {"isolation": "unavailable", "strong": False, "reason": str(e)}
