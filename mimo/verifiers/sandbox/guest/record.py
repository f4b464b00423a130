"""Guest mode ``record``: run the program, then the test, and record every call into the program.

argv: payload_fd extra_fd cpu_s mem_mb nproc nofile fsize. Payload (JSON): program, test, seed;
the test as the grader prepared it for this run (runner.blind_asserts: no assert verdicts, no
literal expected values).

This run decides nothing. It writes a log to extra_fd: for each call or attribute read the test
makes on a name the program binds, the arguments and the result, where a result is either a
*plain* value (exact built-in types, see common.encode) or an opaque handle. The verifier, a
separate process without any candidate code, replays the test against that log and evaluates the
asserts itself; so exiting early, faking output, or returning objects with a forged ``__eq__`` or
``__bool__`` cannot make a test pass.

The test is kept from the candidate as well as the process allows: its asserts lose their literal
expected values here, all candidate code runs on a worker thread that
cannot see the test's frames, and an audit hook refuses frame, gc and ctypes introspection on the
main thread and memory access through /proc. The process is made non-dumpable, so children the
candidate starts cannot read its memory either.
"""

import builtins
import json
import os
import queue
import sys
import threading

if __name__ != "__main__":  # on the host; in the sandbox common.py is concatenated before this file
    from mimo.verifiers.sandbox.guest.common import (
        NotPlain,
        apply_limits,
        canonical,
        decode,
        encode,
        import_names,
        limits_from_argv,
        parse_program,
        program_bindings,
        read_fd,
        seed_random,
        write_fd,
    )

_EXIT_EXC = (SystemExit, KeyboardInterrupt, GeneratorExit)
_BUILTIN_EXC = {v: k for k, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def exception_name(exc_type):
    """The nearest built-in ancestor of an exception type; ``exit`` for non-Exception ones."""
    for klass in exc_type.__mro__:
        name = _BUILTIN_EXC.get(klass)
        if name is not None:
            return name if issubclass(klass, Exception) else "exit"
    return "exit"


def _worker_loop(requests, responses):
    """Runs every piece of candidate code, on its own thread (its frames never reach the test's)."""
    while True:
        fn, args, kwargs = requests.get()
        try:
            responses.put((True, fn(*args, **kwargs)))
        except BaseException as e:  # noqa: BLE001 - everything the candidate raises is a result
            responses.put((False, exception_name(type(e))))
            del e


class CandidateExit(BaseException):
    """The candidate exited (SystemExit and the like) during a call: the test cannot go on."""


class Proxy:
    """What the test holds for a non-plain candidate object: attribute reads and calls only."""

    __slots__ = ("_mimo_hid",)

    def __init__(self, hid):
        object.__setattr__(self, "_mimo_hid", hid)

    def __getattr__(self, name):
        return RECORDER.getattr(self._mimo_hid, name)

    def __call__(self, *args, **kwargs):
        return RECORDER.call(self._mimo_hid, args, kwargs)


class Recorder:
    """Forwards the test's calls to the worker thread and logs arguments and results."""

    def __init__(self):
        self.requests, self.responses = queue.SimpleQueue(), queue.SimpleQueue()
        self.objects = {}
        self.entries = []
        self.binds = []

    def start(self, stack_bytes):
        threading.stack_size(stack_bytes)
        threading.Thread(target=_worker_loop, args=(self.requests, self.responses), daemon=True).start()

    def run(self, fn, *args, **kwargs):
        self.requests.put((fn, args, kwargs))
        return self.responses.get()

    def _ref(self, obj):
        if type(obj) is Proxy:
            return {"h": obj._mimo_hid}
        return {"o": type(obj).__name__}

    def _unwrap(self, obj, depth=0):
        t = type(obj)
        if t is Proxy:
            return self.objects[obj._mimo_hid]
        if depth < 20 and t in (list, tuple) and any(type(v) in (Proxy, list, tuple, dict) for v in obj):
            return t(self._unwrap(v, depth + 1) for v in obj)
        if depth < 20 and t is dict and any(type(v) in (Proxy, list, tuple, dict) for v in obj.values()):
            return {k: self._unwrap(v, depth + 1) for k, v in obj.items()}
        return obj

    def result(self, value):
        """(log form, what the test gets) of a candidate value: a plain copy or a new handle."""
        try:
            enc = encode(value)
            return {"v": enc}, decode(enc)
        except (NotPlain, RecursionError, RuntimeError, ValueError):
            hid = len(self.objects) + 1
            self.objects[hid] = value
            return {"h": hid}, Proxy(hid)

    def _outcome(self, ok, value):
        if ok:
            return self.result(value)
        return {"x": value}, None

    def bind(self, name, value):
        res, for_test = self.result(value)
        self.binds.append([name, res])
        return for_test

    def getattr(self, hid, name):
        res, for_test = self._outcome(*self.run(getattr, self.objects[hid], name))
        self.entries.append([hid, "attr", name, res, []])
        return _deliver(res, for_test)

    def call(self, hid, args, kwargs):
        key = canonical([[encode(a, self._ref) for a in args], [[k, encode(v, self._ref)] for k, v in kwargs.items()]])
        watched = _mutables(args, kwargs)
        real_args = [self._unwrap(a) for a in args]
        real_kwargs = {k: self._unwrap(v) for k, v in kwargs.items()}
        res, for_test = self._outcome(*self.run(self.objects[hid], *real_args, **real_kwargs))
        muts = []
        for pos, (obj, before) in watched.items():
            try:
                after = canonical(encode(obj))
            except (NotPlain, RecursionError, RuntimeError):
                continue
            if after != before:
                muts.append([pos, json.loads(after)])
        self.entries.append([hid, "call", key, res, muts])
        return _deliver(res, for_test)


def _mutables(args, kwargs):
    """Plain mutable arguments (list, dict, set) with their encoding before the call."""
    out = {}
    for pos, obj in list(enumerate(args)) + list(kwargs.items()):
        if type(obj) in (list, dict, set):
            try:
                out[pos] = (obj, canonical(encode(obj)))
            except (NotPlain, RecursionError):
                pass
    return out


def _deliver(res, for_test):
    if "x" not in res:
        return for_test
    name = res["x"]
    klass = getattr(builtins, name, None) if name != "exit" else None
    if isinstance(klass, type) and issubclass(klass, Exception):
        raise klass("raised by the program")
    raise CandidateExit()


RECORDER = Recorder()


def _guard(main_ident):
    """Audit hook: no introspection that could reach the test (see the module docstring)."""
    get_ident, realpath = threading.get_ident, os.path.realpath
    always = frozenset({"sys._current_frames", "sys._current_exceptions", "gc.get_objects", "gc.get_referrers",
                        "gc.get_referents"})
    main_only = frozenset({"sys._getframe", "sys.settrace", "sys.setprofile"})
    frame_attrs = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_code", "f_back"})

    def hook(event, args):
        if event in always or event.startswith("ctypes."):
            raise RuntimeError(f"{event} is not allowed in the sandbox")
        if event == "open" and isinstance(args[0], (str, bytes)):
            path = args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace")
            if realpath(path).startswith("/proc") or os.path.basename(path) == "mem":
                raise PermissionError(f"{path}: not allowed in the sandbox")
        elif get_ident() == main_ident:
            if event in main_only:
                raise ValueError("call stack is not deep enough")
            if event == "object.__getattr__" and args[1] in frame_attrs:
                raise AttributeError(args[1])
    return hook


def _set_nondumpable():
    try:
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def _finish(extra_fd, status, detail=""):
    log = {"status": status, "detail": detail[:500], "binds": RECORDER.binds, "entries": RECORDER.entries}
    try:
        data = json.dumps(log, separators=(",", ":"), allow_nan=True).encode()
    except (ValueError, TypeError, RecursionError):
        data = json.dumps({"status": "error", "detail": "log not serializable"}).encode()
    try:
        write_fd(extra_fd, data)
        for stream in (sys.__stdout__, sys.__stderr__):
            stream.flush()
    finally:
        os._exit(0)


def main(argv):
    run_test = exec  # captured before any candidate code: a patched builtins.exec must never see the test
    payload_fd, extra_fd = int(argv[0]), int(argv[1])
    cpu_s, mem_mb, nproc, nofile, fsize = limits_from_argv(argv[2:])
    write_fd(extra_fd, b"G")
    job = json.loads(read_fd(payload_fd))
    apply_limits(cpu_s, mem_mb, nproc, nofile, fsize)
    try:
        program_tree = parse_program(job["program"])
        program_code = compile(program_tree, "<program>", "exec")
    except MemoryError:
        _finish(extra_fd, "runtime_error", "out of memory compiling the program")
    except (SyntaxError, ValueError, OverflowError, RecursionError) as e:
        _finish(extra_fd, "syntax_error", f"{type(e).__name__}: {e}")
    stubs, imports = program_bindings(program_tree)
    imported = import_names(imports)
    test_code = compile(job["test"], "<test>", "exec")
    uses_random, seed = "random" in job["test"], int(job.get("seed", 0))
    del job, program_tree
    snapshot = dict(vars(builtins))
    _set_nondumpable()
    RECORDER.start(max(8, min(64, mem_mb // 8)) * 1024 * 1024)
    sys.addaudithook(_guard(threading.get_ident()))
    namespace = {"__name__": "solution", "__builtins__": builtins}
    ok, err = RECORDER.run(exec, program_code, namespace)
    if not ok:
        _finish(extra_fd, "exited" if err == "exit" else "runtime_error", f"program raised {err}")
    test_ns = {"__name__": "__mimo_test__", "__builtins__": snapshot}
    for name, value in list(namespace.items()):
        if name in stubs:
            test_ns[name] = RECORDER.bind(name, value)
        elif name in imported:  # the verifier re-imports these, fresh
            test_ns[name] = value
    if uses_random:
        seed_random("random", seed)
    try:
        run_test(test_code, test_ns)
    except CandidateExit:
        _finish(extra_fd, "exited", "program exited during the test")
    except Exception as e:  # noqa: BLE001 - the verifier decides; this only labels the run
        _finish(extra_fd, "ok", f"test raised {type(e).__name__}")
    _finish(extra_fd, "ok")


if __name__ == "__main__":
    main(sys.argv[1:])
