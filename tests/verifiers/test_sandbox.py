"""The sandbox: isolation really in force, escape attempts fail, nothing leaks or lingers."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import threading
import time

import psutil
import pytest

from mimo.verifiers.sandbox.guest.common import (
    NotPlain,
    canonical,
    decode,
    encode,
    import_names,
    parse_program,
    program_bindings,
)
from mimo.verifiers.sandbox.isolation import (
    Limits,
    SandboxUnavailable,
    choose_sandbox,
    get_sandbox,
    isolation_info,
    weak_sandbox,
)
from mimo.verifiers.sandbox.runner import Test, normalize_output, run_tests

FAST = Limits(time_s=0.5, memory_mb=256)
SECRET = "mimo-secret-7f3a9c"


@pytest.fixture(scope="module")
def box():
    """The strong sandbox, under a uid of this test process's own (other sandboxes may run beside it)."""
    info = isolation_info()
    assert info["isolation"] == "bubblewrap", f"strong isolation unavailable: {info} (run scripts/system-deps.sh)"
    return dataclasses.replace(get_sandbox(), uid=200000 + os.getpid() % 100000)


def run(box, program: str, stdin: str = "", limits: Limits = FAST):
    return box.run("stdio", program.encode(), limits, stdin=stdin.encode())


def sandbox_processes(uid: int) -> list[str]:
    out = subprocess.run(["ps", "-u", str(uid), "-o", "pid=,stat=,args="], capture_output=True,
                         text=True, check=False)
    return [line for line in out.stdout.splitlines() if line.strip()]


def test_isolation_metadata(box):
    info = get_sandbox().info()
    assert info["strong"] and info["uid"] == 65534 and info["capabilities"] == "none"
    assert {"user", "pid", "net", "mount"} <= set(info["namespaces"])


def test_unprivileged_no_capabilities_even_as_root(box):
    res = run(box, "import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())\n"
                   "print(open('/proc/self/status').read())\nprint(open('/proc/self/uid_map').read())")
    out = res.stdout.decode()
    assert out.splitlines()[0] == f"{box.uid} {box.uid} {box.uid} []"
    status = dict(line.split(":", 1) for line in out.splitlines()[1:] if ":" in line)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[cap].strip(), 16) == 0, cap
    assert status["NoNewPrivs"].strip() == "1"



def test_sandboxed_processes_are_unprivileged_on_the_host(box):
    """Seen from the host, every process of a running sandbox belongs to the unprivileged uid."""
    result = {}
    worker = threading.Thread(target=lambda: result.update(res=run(box, "import time\ntime.sleep(1.5)")))
    worker.start()
    try:
        deadline, owners = time.monotonic() + 5, set()
        while time.monotonic() < deadline and not owners:
            owners = set()
            for p in psutil.Process().children(recursive=True):
                try:
                    if "bwrap" in p.name() or "mimo-guest" in " ".join(p.cmdline()):
                        owners.add(p.uids().real)
                except psutil.Error:  # exited meanwhile
                    pass
            time.sleep(0.05)
    finally:
        worker.join()
    expected = box.uid if os.geteuid() == 0 else os.getuid()
    assert owners == {expected}


def test_no_network(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        res = run(box, "import socket\nprint([n for _, n in socket.if_nameindex()])\n"
                       f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1); print('CONNECTED')\n"
                       "except OSError as e:\n    print('refused', e.errno)")
    finally:
        server.close()
    out = res.stdout.decode()
    assert "CONNECTED" not in out and "refused" in out
    assert out.splitlines()[0] == "['lo']"


def test_only_tmp_is_writable_and_host_files_are_invisible(box, tmp_path):
    (tmp_path / "host.txt").write_text("host data")
    probe = ("import os\n"
             "for d in ['/', '/usr', '/dev', '/opt/mimo-guest', '/etc', '/proc/sys', '/dev/shm', '/var']:\n"
             "    try:\n        open(d + '/w', 'w').write('x'); print('WROTE', d)\n"
             "    except OSError:\n        pass\n"
             "open('/tmp/w', 'w').write('x'); print('tmp ok')\n"
             f"print(os.path.exists({str(tmp_path)!r}), os.path.exists('/work'), os.path.exists('/root'))")
    out = run(box, probe).stdout.decode()
    assert "WROTE" not in out and "tmp ok" in out
    assert out.splitlines()[-1] == "False False False"


def test_environment_and_proc_hold_no_caller_variables(box, monkeypatch):
    monkeypatch.setenv("MIMO_SANDBOX_TEST_SECRET", SECRET)
    probe = ("import os\nprint(dict(os.environ))\n"
             "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
             "    for f in ('environ', 'cmdline'):\n"
             "        try:\n            print(pid, f, open(f'/proc/{pid}/{f}', 'rb').read())\n"
             "        except OSError as e:\n            print(pid, f, 'denied')\n"
             "print('pids', sorted(p for p in os.listdir('/proc') if p.isdigit()))")
    out = run(box, probe).stdout.decode()
    assert SECRET not in out and "MIMO_SANDBOX_TEST_SECRET" not in out
    pids = out.splitlines()[-1]
    assert pids == "pids ['1']", pids  # the guest is PID 1 and alone: no host process is visible


def test_cpu_wall_memory_output_and_process_limits(box):
    start = time.monotonic()
    assert _failure(box, "while True: pass") == "timeout"
    assert _failure(box, "import time\ntime.sleep(60)") == "timeout"
    assert _failure(box, "x = []\nwhile True: x.append(bytearray(10**7))") == "memory_limit"
    assert _failure(box, "import sys\nwhile True: sys.stdout.write('x' * 65536)") == "output_limit"
    forks = run(box, "import os, time\nn = 0\nfor _ in range(200):\n    try:\n        pid = os.fork()\n"
                     "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(30)\n        os._exit(0)\n"
                     "    n += 1\nprint(n)")
    assert 0 < int(forks.stdout) < FAST.nproc
    files = run(box, "import os\nfs = []\ntry:\n    for i in range(1000): fs.append(open('/dev/null'))\n"
                     "except OSError:\n    pass\nprint(len(fs))")
    assert int(files.stdout) < FAST.nofile
    assert time.monotonic() - start < 15
    assert sandbox_processes(box.uid) == []


def _failure(box, program: str) -> str:
    [outcome] = run_tests(box, program, [Test(input="", output="never")], FAST)
    assert not outcome.passed
    return outcome.status


def test_leftovers_killed_and_no_files_left(box):
    daemon = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        time.sleep(60)\n    os._exit(0)\nopen('/tmp/scratch', 'w').write('x' * 10000)\nprint('ok')")
    assert run(box, daemon).stdout == b"ok\n"
    assert run(box, "import time\nwhile True: time.sleep(1)").timed_out
    assert sandbox_processes(box.uid) == []
    for tmp in {os.environ.get("TMPDIR", "/tmp"), "/tmp", "/var/tmp", "/dev/shm"}:
        assert [e.path for e in os.scandir(tmp) if e.stat(follow_symlinks=False).st_uid == box.uid] == []


def test_escape_attempts_on_assert_tests_all_fail(box):
    good = "def add(a, b):\n    return a + b\n"
    tests = [Test(code="assert add(1, 2) == 3"), Test(code="candidate = add\nassert candidate(20, 22) == 42")]
    assert [o.passed for o in run_tests(box, good, tests, FAST)] == [True, True]
    attempts = {
        "exit 0 at import": "import sys\nsys.exit(0)\n" + good,
        "sys.exit in the call": "def add(a, b):\n    import sys\n    sys.exit(0)\n",
        "os._exit in the call": "def add(a, b):\n    import os\n    os._exit(0)\n",
        "kill the parent": "import os, signal\ndef add(a, b):\n    for pid in (os.getppid(), 1):\n        try:\n"
                           "            os.kill(pid, signal.SIGKILL)\n        except OSError:\n            pass\n",
        "fake markers": ("import os\nprint('PASSED'); print('G{\"status\":\"ok\"}')\n"
                         "for fd in range(3, 12):\n    try:\n"
                         "        os.write(fd, b'G[[true, \"passed\"], [true, \"passed\"]]')\n    except OSError:\n"
                         "        pass\ndef add(a, b):\n    return None\n"),
        "always-equal object": ("class Yes:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
                                "    def __bool__(self): return True\n    __hash__ = object.__hash__\n"
                                "def add(a, b):\n    return Yes()\n"),
        "int subclass": "class I(int):\n    def __eq__(self, o): return True\ndef add(a, b):\n    return I(0)\n",
        "patched builtins": "import builtins\nbuiltins.AssertionError = type('X', (BaseException,), {})\n"
                            "def add(a, b):\n    return 0\n",
    }
    for name, program in attempts.items():
        outcomes = run_tests(box, program, tests, FAST)
        assert [o.passed for o in outcomes] == [False, False], (name, outcomes)
        assert all(o.status != "error" for o in outcomes), (name, outcomes)


def test_forged_arithmetic_and_truthiness_fail(box):
    program = ("class Z:\n    def __sub__(self, o): return 0.0\n    def __abs__(self): return 0.0\n"
               "    def __bool__(self): return True\n    def __len__(self): return 3\n"
               "def f(x):\n    return Z()\n")
    tests = [Test(code="assert abs(f(1) - 0.5) < 1e-6"), Test(code="assert f(1)"), Test(code="assert len(f(1)) == 3")]
    assert [o.passed for o in run_tests(box, program, tests, FAST)] == [False, False, False]


def test_candidate_cannot_find_the_tests(box):
    hunter = ("import gc, os, sys\n"
              "def look():\n"
              "    seen = []\n"
              "    f = sys._getframe()\n"
              "    while f is not None:\n"
              "        seen += [repr(v) for v in f.f_locals.values()] + [repr(f.f_globals)]\n"
              "        f = f.f_back\n"
              "    for probe in (lambda: gc.get_objects(), lambda: sys._current_frames(),\n"
              "                  lambda: open('/proc/self/mem', 'rb').read(10),\n"
              "                  lambda: __import__('ctypes').string_at(id(seen), 100)):\n"
              "        try:\n            seen.append(repr(probe()))\n        except Exception:\n            pass\n"
              "    for root, dirs, files in os.walk('/'):\n"
              "        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ('/proc', '/usr', '/sys', '/dev')]\n"
              "        for name in files:\n"
              "            try:\n                seen.append(open(os.path.join(root, name), errors='replace').read())\n"
              "            except OSError:\n                pass\n"
              "    seen.append(repr(dict(os.environ)))\n"
              "    blob = ' '.join(seen)\n"
              "    target = str(int('4242') * 100 + 42)  # built after the search: not in its own memory\n"
              "    return int(target) if target in blob else -1\n"
              "def f(*hint):\n    return look()\n"
              "if __name__ == '__main__':\n    print(look())\n")
    asserts = [Test(code="expected = 424242\nassert f() == expected"), Test(code="assert f() == 424242"),
               Test(code="expected = 424242\nassert f(expected) == expected")]  # control: handed the value
    assert [o.passed for o in run_tests(box, hunter, asserts, Limits(time_s=3))] == [False, False, True]
    [stdio] = run_tests(box, hunter, [Test(input="nothing", output="424242")], Limits(time_s=3))
    assert not stdio.passed
    # hooks the harness might call after the program ran: builtins, json, threading
    hooker = ("import builtins, json\nseen = []\n"
              "def spy(real):\n    def hooked(*args, **kw):\n        seen.append(args)\n"
              "        return real(*args, **kw)\n    return hooked\n"
              "for name in ('exec', 'compile', 'eval', '__import__'):\n"
              "    setattr(builtins, name, spy(getattr(builtins, name)))\n"
              "json.dumps = spy(json.dumps)\n"
              "def f(*hint):\n    for args in seen:\n        for a in args:\n"
              "            if isinstance(a, dict) and 'expected' in a:\n                return a['expected']\n"
              "    return -1\n")
    assert not run_tests(box, hooker, asserts[:1], Limits(time_s=3))[0].passed


def test_normalize_output():
    assert normalize_output("1 2  \r\n3\t\n\n\n") == "1 2\n3"
    assert normalize_output("  x") == "  x"


def test_weak_isolation_only_when_accepted():
    weak = weak_sandbox()
    assert weak is not None and not weak.strong
    with pytest.raises(SandboxUnavailable, match="allow_weak_isolation"):
        choose_sandbox(None, "bubblewrap is not installed", weak, allow_weak_isolation=False)
    assert choose_sandbox(None, "bubblewrap is not installed", weak, allow_weak_isolation=True) is weak
    assert weak.info()["isolation"] == "weak"
    res = weak.run("stdio", b"import os\nprint(os.getuid(), input())", FAST, stdin=b"hi")
    expected_uid = weak.uid if os.geteuid() == 0 else os.getuid()
    assert res.stdout.decode().split() == [str(expected_uid), "hi"]
    assert json.loads(json.dumps(weak.info()))["strong"] is False
    looping = weak.run("stdio", b"while True: pass", FAST)
    assert looping.exit_code == 128 + 9 and not looping.timed_out  # the CPU limit, not the wall clock


def test_plain_codec_is_exact_and_refuses_subclasses():
    values = [0, -5, 2**200, 1.5, float("inf"), -0.0, "s", b"\x00\xff", 3 + 4j, True, None,
              (1, [2, {3: "x"}]), {1, 2}, frozenset({"a"}), {"k": (1,)}]
    for v in values:
        back = decode(json.loads(canonical(encode(v))))
        assert back == v and type(back) is type(v)
    assert encode(True) is True and encode(1) == 1  # bool and int stay distinct

    class Sneaky(int):
        def __eq__(self, other):
            return True

    for bad in (Sneaky(3), [1, Sneaky(2)], {"k": object()}, (x for x in ())):
        with pytest.raises(NotPlain):
            encode(bad)


def test_program_bindings_are_static():
    program = ("import math, os.path as p\nfrom typing import List\nX = 1\na, (b, *c) = 1, (2, 3)\n"
               "def f(): global G; G = 1\nclass K: pass\nif True:\n    for i in range(3): pass\n"
               "try:\n    import json\nexcept ImportError as e:\n    json = None\nlen = 3\n")
    stubs, imports = program_bindings(parse_program(program))
    assert stubs == {"X", "a", "b", "c", "f", "G", "K", "i", "json", "e"}  # not builtins like len
    assert import_names(imports) == {"math", "p", "List", "json"}
