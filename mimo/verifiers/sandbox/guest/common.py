"""Shared guest code: runs inside the sandbox (standard library only, no mimo imports).

In the sandbox each mode runs as one file: this one followed by the mode's (stdio.py, record.py,
verify.py), byte-compiled once by the host (isolation.build_guest_dir). The host imports the same
modules for its tests.

* a codec for *plain* values (exact built-in types: None, bool, int, float, complex, str, bytes,
  list, tuple, dict, set, frozenset), type-tagged JSON, so that no candidate object with custom
  ``__eq__``/``__bool__`` can ever cross from a candidate process to the verifier;
* the static analysis of a program (which top-level names it binds);
* resource limits and fd helpers.
"""

import builtins
import os
import resource

# json and _ast are imported where used: the stdio mode needs neither.

MAX_DEPTH = 200
MAX_INT_BITS = 1 << 22
_SCALARS = (type(None), bool, int, float, str)


class NotPlain(Exception):
    """A value is not made only of exact built-in types."""


def encode(value, handle_of=None, depth=0):
    """Type-tagged JSON form of a plain value.

    ``handle_of(obj)`` may return a JSON form for non-plain objects (a handle reference); without
    it, or when it returns None, a non-plain value raises :class:`NotPlain`.
    """
    if depth > MAX_DEPTH:
        raise NotPlain("nested too deep")
    t = type(value)
    if t is int and value.bit_length() > 60:  # as hex: exact, and free of json's 4300-digit limit
        if value.bit_length() > MAX_INT_BITS:
            raise NotPlain("integer too large")
        return {"i": hex(value)}
    if t in _SCALARS:
        return value
    if t is list:
        return [encode(v, handle_of, depth + 1) for v in value]
    if t is tuple:
        return {"t": [encode(v, handle_of, depth + 1) for v in value]}
    if t is dict:
        return {"d": [[encode(k, handle_of, depth + 1), encode(v, handle_of, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        items = sorted((encode(v, handle_of, depth + 1) for v in value), key=canonical)
        return {"s" if t is set else "f": items}
    if t is bytes:
        return {"b": value.decode("latin-1")}
    if t is complex:
        return {"c": [value.real, value.imag]}
    if handle_of is not None:
        ref = handle_of(value)
        if ref is not None:
            return ref
    raise NotPlain(t.__name__)


def decode(data, handle_for=None, depth=0):
    """Inverse of :func:`encode`; ``handle_for(ref_dict)`` rebuilds handle references."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deep")
    t = type(data)
    if t in _SCALARS:
        return data
    if t is list:
        return [decode(v, handle_for, depth + 1) for v in data]
    if t is not dict or len(data) != 1:
        raise ValueError("bad plain encoding")
    (tag, body), = data.items()
    if tag == "t":
        return tuple(decode(v, handle_for, depth + 1) for v in _as_list(body))
    if tag == "d":
        out = {}
        for pair in _as_list(body):
            k, v = _as_list(pair)
            out[decode(k, handle_for, depth + 1)] = decode(v, handle_for, depth + 1)
        return out
    if tag in ("s", "f"):
        items = [decode(v, handle_for, depth + 1) for v in _as_list(body)]
        return set(items) if tag == "s" else frozenset(items)
    if tag == "b" and type(body) is str:
        return body.encode("latin-1")
    if tag == "c":
        re_, im = _as_list(body)
        return complex(float(re_), float(im))
    if tag == "i" and type(body) is str and len(body) <= MAX_INT_BITS // 4 + 3:
        return int(body, 16)
    if tag in ("h", "o") and handle_for is not None:
        return handle_for(data)
    raise ValueError("bad plain encoding tag")


def _as_list(x):
    if type(x) is not list:
        raise ValueError("bad plain encoding")
    return x


def canonical(data):
    """A canonical string of an encoded value (used as a lookup key)."""
    import json

    return json.dumps(data, separators=(",", ":"), allow_nan=True)


# ----------------------------------------------------------------------------- static analysis
# On the C-level ``_ast`` nodes (importing ``ast`` costs ~8 ms per sandboxed process).

_BUILTIN_NAMES = frozenset(dir(builtins))


def parse_program(source, filename="<program>"):
    """The program's syntax tree (``_ast`` nodes); raises SyntaxError and friends."""
    import _ast

    return compile(source, filename, "exec", _ast.PyCF_ONLY_AST)


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for name in n._fields:
            value = getattr(n, name, None)
            if isinstance(value, list):
                stack.extend(v for v in value if hasattr(v, "_fields"))
            elif hasattr(value, "_fields"):
                stack.append(value)


def _targets(node, out):
    import _ast

    if isinstance(node, _ast.Name):
        out.add(node.id)
    elif isinstance(node, (_ast.Tuple, _ast.List)):
        for elt in node.elts:
            _targets(elt, out)
    elif isinstance(node, _ast.Starred):
        _targets(node.value, out)


def _scan_block(body, bound, imported):
    import _ast

    scopes = (_ast.FunctionDef, _ast.AsyncFunctionDef, _ast.ClassDef)
    for node in body:
        if isinstance(node, scopes):
            bound.add(node.name)
            continue
        if isinstance(node, _ast.Assign):
            for tgt in node.targets:
                _targets(tgt, bound)
        elif isinstance(node, (_ast.AnnAssign, _ast.AugAssign, _ast.For, _ast.AsyncFor)):
            _targets(node.target, bound)
        elif isinstance(node, (_ast.With, _ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    _targets(item.optional_vars, bound)
        elif isinstance(node, (_ast.Import, _ast.ImportFrom)):
            imported.append(node)
        for field in ("body", "orelse", "finalbody"):
            sub = getattr(node, field, None)
            if isinstance(sub, list):
                _scan_block(sub, bound, imported)
        for handler in getattr(node, "handlers", None) or ():
            if handler.name:
                bound.add(handler.name)
            _scan_block(handler.body, bound, imported)


def program_bindings(tree):
    """``(stub_names, import_nodes)`` of a parsed program.

    ``stub_names``: top-level names the program binds other than by import (defs, classes,
    assignments, ``global`` declarations), minus built-in and dunder names. ``import_nodes``: the
    top-level import statements (the verifier re-runs them, on fresh trusted modules).
    """
    import _ast

    bound, imported = set(), []
    _scan_block(tree.body, bound, imported)
    for node in _walk(tree):
        if isinstance(node, _ast.Global):
            bound.update(node.names)
        elif isinstance(node, _ast.NamedExpr) and isinstance(node.target, _ast.Name):
            bound.add(node.target.id)
    stubs = {n for n in bound if n not in _BUILTIN_NAMES and not (n.startswith("__") and n.endswith("__"))}
    return stubs, imported


def import_names(import_nodes):
    """Names bound by import statements (``import a.b`` binds ``a``)."""
    return {a.asname or a.name.split(".")[0] for node in import_nodes for a in node.names}


def seed_random(source, seed):
    """Seed the global ``random`` module when the test uses it (same sequence in both runs)."""
    if "random" in source:
        import random

        random.seed(seed)


# ----------------------------------------------------------------------------- process helpers


def apply_limits(cpu_s, mem_mb, nproc, nofile, fsize):
    """Set hard=soft resource limits on this process (inherited by anything it starts)."""
    def setl(which, soft, hard=None):
        resource.setrlimit(which, (soft, soft if hard is None else hard))
    setl(resource.RLIMIT_CORE, 0)
    setl(resource.RLIMIT_CPU, cpu_s)
    setl(resource.RLIMIT_AS, mem_mb * 1024 * 1024)
    setl(resource.RLIMIT_FSIZE, fsize)
    setl(resource.RLIMIT_NOFILE, nofile)
    setl(resource.RLIMIT_NPROC, nproc)


def read_fd(fd):
    """Everything readable from ``fd``, then close it."""
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks)


def write_fd(fd, data):
    """Write all of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def limits_from_argv(argv):
    """``cpu_s mem_mb nproc nofile fsize`` from the command line, as ints."""
    return [int(a) for a in argv[:5]]
