"""Guest mode ``verify``: decide assert tests from the recording runs' logs, with no candidate code.

argv: payload_fd extra_fd cpu_s mem_mb nproc nofile fsize. Payload (JSON): program (parsed, never
run), time_limit_s, tests: [{code, log, seed}]. Writes ``G`` then a JSON list of
``[passed, status]`` (one per test) to extra_fd.

Each test runs in a fresh namespace: the program's import statements (fresh, trusted modules),
then every name the program binds becomes a replay stub; the test code itself runs unchanged, and
each call into the program returns the recorded plain value (or raises the recorded exception).
A call that the log does not hold, any non-plain value, or any use of an opaque handle other than
attribute access and calls fails the test.
"""

import builtins
import json
import os
import signal
import sys

if __name__ != "__main__":  # on the host; in the sandbox common.py is concatenated before this file
    from mimo.verifiers.sandbox.guest.common import (
        apply_limits,
        canonical,
        decode,
        encode,
        limits_from_argv,
        parse_program,
        program_bindings,
        read_fd,
        seed_random,
        write_fd,
    )


class ReplayMiss(BaseException):
    """The test made a call that the recording run did not (or gave other arguments)."""


class Unsupported(BaseException):
    """The test used an opaque candidate object in a way only a plain value allows."""


class CandidateExit(BaseException):
    """The program exited during this call in the recording run."""


class TestTimeout(BaseException):
    """The test's time limit passed in the verifier."""

    __test__ = False


def _refuse(self, *args, **kwargs):
    raise Unsupported("opaque program object used as a value")


class Handle:
    """An opaque program object: attribute reads and calls replay from the log; nothing else works."""

    __slots__ = ("_hid", "_replay")

    def __init__(self, hid, replay):
        object.__setattr__(self, "_hid", hid)
        object.__setattr__(self, "_replay", replay)

    def __getattr__(self, name):
        return self._replay.lookup(self._hid, "attr", name, (), {})

    def __call__(self, *args, **kwargs):
        return self._replay.lookup(self._hid, "call", None, args, kwargs)

    def __repr__(self):
        return f"<program object {self._hid}>"

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __len__ = __iter__ = _refuse
    __contains__ = __hash__ = __index__ = __int__ = __float__ = __str__ = __format__ = __setattr__ = _refuse


class Replay:
    """The recorded calls of one test, looked up by (handle, operation, arguments)."""

    def __init__(self, log):
        self.table = {}
        self.missed = False
        for entry in log["entries"]:
            hid, op, key, res, muts = entry
            if type(hid) is not int or op not in ("call", "attr") or type(key) is not str or type(muts) is not list:
                raise ValueError("malformed log entry")
            self.table.setdefault((hid, op, key), []).append((res, muts))

    def _ref(self, obj):
        if type(obj) is Handle:
            return {"h": obj._hid}
        return {"o": type(obj).__name__}

    def value(self, res):
        """The test-side value of a logged result."""
        if type(res) is not dict or len(res) != 1:
            raise ValueError("malformed result")
        (tag, body), = res.items()
        if tag == "v":
            return decode(body)
        if tag == "h" and type(body) is int:
            return Handle(body, self)
        if tag == "x" and type(body) is str:
            klass = getattr(builtins, body, None) if body != "exit" else None
            if isinstance(klass, type) and issubclass(klass, Exception):
                raise klass("raised by the program")
            raise CandidateExit()
        raise ValueError("malformed result")

    def lookup(self, hid, op, name, args, kwargs):
        if op == "attr":
            key = name
        else:
            key = canonical([[encode(a, self._ref) for a in args], [[k, encode(v, self._ref)] for k, v in kwargs.items()]])
        queue = self.table.get((hid, op, key))
        if not queue:
            self.missed = True
            raise ReplayMiss(f"{op} not recorded")
        res, muts = queue.pop(0)
        for pos, enc in muts:
            _apply_mutation(args, kwargs, pos, decode(enc))
        return self.value(res)


def _apply_mutation(args, kwargs, pos, new):
    target = kwargs.get(pos) if type(pos) is str else (args[pos] if type(pos) is int and 0 <= pos < len(args) else None)
    if type(target) is list and type(new) is list:
        target[:] = new
    elif type(target) in (dict, set) and type(new) is type(target):
        target.clear()
        target.update(new)


def _on_alarm(signum, frame):
    raise TestTimeout()


def run_test(test, stubs, import_codes, time_limit_s):
    """``[passed, status]`` of one assert test."""
    try:
        log = json.loads(test["log"]) if test.get("log") else None
        if type(log) is not dict:
            return [False, "runtime_error"]
        status = log.get("status")
        if status != "ok":
            return [False, "syntax_error" if status == "syntax_error" else "runtime_error"]
        replay = Replay(log)
        binds = log.get("binds")
        if type(binds) is not list:
            raise ValueError("malformed binds")
    except (ValueError, TypeError, KeyError, RecursionError):
        return [False, "runtime_error"]
    ns = {"__name__": "__mimo_test__", "__builtins__": builtins}
    for code in import_codes:
        try:
            exec(code, ns)
        except Exception:  # noqa: BLE001 - a missing module only matters if the test uses the name
            pass
    try:
        for name, res in binds:
            if name in stubs:
                try:
                    ns[name] = replay.value(res)
                except Exception:  # noqa: BLE001 - a broken binding fails the test when used
                    ns.pop(name, None)
        code = compile(test["code"], "<test>", "exec")
    except (ValueError, TypeError, SyntaxError, RecursionError, CandidateExit):
        return [False, "runtime_error"]
    seed_random(test["code"], int(test.get("seed", 0)))
    signal.setitimer(signal.ITIMER_REAL, time_limit_s)
    try:
        exec(code, ns)
        verdict = [not replay.missed, "passed" if not replay.missed else "wrong_answer"]
    except TestTimeout:
        verdict = [False, "timeout"]
    except (AssertionError, ReplayMiss, Unsupported):
        verdict = [False, "wrong_answer"]
    except BaseException:  # noqa: BLE001 - a replayed exception or a broken test: not passed
        verdict = [False, "runtime_error"]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return verdict


def main(argv):
    payload_fd, extra_fd = int(argv[0]), int(argv[1])
    limits = limits_from_argv(argv[2:])
    write_fd(extra_fd, b"G")
    job = json.loads(read_fd(payload_fd))
    apply_limits(*limits)
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        import _ast

        stubs, imports = program_bindings(parse_program(job["program"]))
        import_codes = [compile(_ast.Module(body=[node], type_ignores=[]), "<imports>", "exec") for node in imports]
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        stubs, import_codes = None, []
    results = []
    for test in job["tests"]:
        if stubs is None:
            results.append([False, "syntax_error"])
            continue
        try:
            results.append(run_test(test, stubs, import_codes, float(job["time_limit_s"])))
        except (MemoryError, RecursionError):
            results.append([False, "runtime_error"])
    write_fd(extra_fd, json.dumps(results).encode())
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
