"""trafilatura's element-selecting XPaths as Python functions over an lxml tree, with the same results.

libxml2 evaluates a predicate such as ``.//*[self::div or self::p][contains(@class, 'teaser')]`` at about
a microsecond per element, and lxml runs each ``re:test`` as a call into Python. The generated Python
loop walks the elements with lxml's C-level tag filter and reads each element's attributes once; over
trafilatura's content expressions it takes 20 ms a WCXB page where libxml2 takes 66
(``bench/bench_trafilatura_xpaths.py``).

:func:`compile_xpath` covers the subset trafilatura's content expressions use, and raises
:class:`Unsupported` on anything else (the caller then keeps the XPath):

- paths: unions of ``.//NAME`` or ``.//*`` steps with predicates, a trailing ``[1]`` (the first match
  among siblings), or ``(...)[1]`` (the first match in document order);
- predicates: ``or``, ``and``, ``not()``, ``boolean()``, parentheses, ``self::NAME``, ``.//NAME``
  (has such a descendant), ``@a`` (exists), ``@a='x'``, ``contains``, ``starts-with``, ``translate`` and
  EXSLT ``re:test`` on attributes.

XPath semantics kept: a union of attributes such as ``@id|@class`` has as string value the first of
them in the element's attribute order (``""`` when none is there), as libxml2 gives it; ``re:test``
is ``re.search`` with ``re.IGNORECASE`` under flag ``i``, as lxml runs it; results come in document
order without repeats.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from lxml import etree

_TOKEN = re.compile(r"""\s*(?:(?P<desc>\.//)|(?P<self>self::[\w-]+)|(?P<attr>@[\w-]+)|(?P<lit>'[^']*'|"[^"]*")
    |(?P<func>re:test|starts-with|contains|translate|not|boolean)(?=\s*\()|(?P<op>and|or)(?![\w-])
    |(?P<num>\d+)|(?P<name>[A-Za-z][\w-]*|\*)|(?P<punct>[()\[\]|,=]))""", re.VERBOSE)


class Unsupported(ValueError):
    """The expression uses XPath outside the compiled subset."""


def _tokens(path: str) -> list[tuple[str, str]]:
    out, pos, path = [], 0, path.strip()
    while pos < len(path):
        match = _TOKEN.match(path, pos)
        if not match or match.end() == pos:
            raise Unsupported(f"cannot read {path[pos:pos + 20]!r}")
        out.append((match.lastgroup, match.group(match.lastgroup)))
        pos = match.end()
        while pos < len(path) and path[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, path: str) -> None:
        self.toks, self.i = _tokens(path), 0

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        tok_kind, tok_value = self.toks[self.i]
        return (value is None or tok_value == value) and (kind is None or tok_kind == kind)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if not self.peek(value, kind):
            got = self.toks[self.i] if self.i < len(self.toks) else "end"
            raise Unsupported(f"expected {value or kind}, got {got}")
        self.i += 1
        return self.toks[self.i - 1][1]

    def literal(self) -> str:
        return self.take(kind="lit")[1:-1]

    # paths
    def path(self) -> list[tuple[str, list[tuple], str | None]]:
        terms = [self.term()]
        while self.peek("|"):
            self.take("|")
            terms.append(self.term())
        if self.i != len(self.toks):
            raise Unsupported("trailing tokens")
        return terms

    def term(self) -> tuple[str, list[tuple], str | None]:
        if self.peek("("):
            self.take("(")
            name, preds, first = self.step()
            self.take(")")
            self.take("[")
            self.take("1")
            self.take("]")
            if first:
                raise Unsupported("nested positions")
            return name, preds, "document"
        return self.step()

    def step(self) -> tuple[str, list[tuple], str | None]:
        self.take(kind="desc")
        name, preds, first = self.take(kind="name"), [], None
        while self.peek("["):
            self.take("[")
            if self.peek(kind="num"):
                if self.take(kind="num") != "1":
                    raise Unsupported("positions other than 1")
                first = "siblings"
            elif first:
                raise Unsupported("a predicate after a position")
            else:
                preds.append(self.expr())
            self.take("]")
        return name, preds, first

    # predicates
    def joined(self, op: str, operand: Callable[[], tuple]) -> tuple:
        """``operand (op operand)*`` as one node."""
        parts = [operand()]
        while self.peek(op, "op"):
            self.take(op)
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (op, parts)

    def expr(self) -> tuple:
        return self.joined("or", self.conjunction)

    def conjunction(self) -> tuple:
        return self.joined("and", self.unary)

    def unary(self) -> tuple:
        if self.peek(kind="func"):
            return self.function(self.take(kind="func"))
        if self.peek("("):
            self.take("(")
            inner = self.expr()
            self.take(")")
            return inner
        if self.peek(kind="self"):
            return ("self", self.take(kind="self")[len("self::"):])
        if self.peek(kind="desc"):
            self.take(kind="desc")
            return ("desc", self.take(kind="name"))
        names = self.attributes()
        if self.peek("="):
            self.take("=")
            return ("eq", names, self.literal())
        return ("exists", names)

    def attributes(self) -> list[str]:
        names = [self.take(kind="attr")[1:]]
        while self.peek("|"):
            self.take("|")
            names.append(self.take(kind="attr")[1:])
        return names

    def text(self) -> tuple:
        if self.peek("translate", "func"):
            self.take("translate")
            self.take("(")
            inner = self.text()
            self.take(",")
            source = self.literal()
            self.take(",")
            target = self.literal()
            self.take(")")
            return ("translate", inner, source, target)
        return ("attr", self.attributes())

    def function(self, name: str) -> tuple:
        self.take("(")
        if name in ("not", "boolean"):
            inner = self.expr()
            self.take(")")
            return ("not", inner) if name == "not" else inner
        text = self.text()
        self.take(",")
        pattern = self.literal()
        flags = ""
        if name == "re:test" and self.peek(","):
            self.take(",")
            flags = self.literal()
        self.take(")")
        return (name, text, pattern, flags)


def _ordered(el: etree._Element, names: tuple[str, ...]) -> str:
    """The value of the first of ``names`` in ``el``'s attribute order (several are present)."""
    return next(el.get(key) for key in el.keys() if key in names)


class _Source:
    """Python source of predicates over ``el``, whose tag and attributes are read into locals first."""

    def __init__(self) -> None:
        self.consts: dict[str, object] = {"_ordered": _ordered}
        self.attrs: dict[str, str] = {}

    def const(self, value: object) -> str:
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def attr(self, name: str) -> str:
        return self.attrs.setdefault(name, f"a{len(self.attrs)}")

    def text(self, node: tuple) -> str:
        if node[0] == "translate":
            source, target = node[2], node[3]
            table = self.const(str.maketrans(source[:len(target)], target[:len(source)], source[len(target):]))
            return f"{self.text(node[1])}.translate({table})"
        names = tuple(node[1])
        values = [self.attr(n) for n in names]
        if len(names) == 1:
            return f"({values[0]} or '')"
        present = " + ".join(f"({v} is not None)" for v in values)
        single = " or ".join(values) + " or ''"
        return f"(({single}) if {present} <= 1 else _ordered(el, {names!r}))"

    def boolean(self, node: tuple) -> str:
        kind = node[0]
        if kind in ("or", "and"):
            return "(" + f" {kind} ".join(self.boolean(part) for part in node[1]) + ")"
        if kind == "not":
            return f"(not {self.boolean(node[1])})"
        if kind == "self":
            return f"(tag == {node[1]!r})"
        if kind == "desc":
            return f"(el.find({'.//' + node[1]!r}) is not None)"
        if kind == "exists":
            return "(" + " or ".join(f"{self.attr(n)} is not None" for n in node[1]) + ")"
        if kind == "eq":
            return "(" + " or ".join(f"{self.attr(n)} == {node[2]!r}" for n in node[1]) + ")"
        text = self.text(node[1])
        if kind == "contains":
            return f"({node[2]!r} in {text})"
        if kind == "starts-with":
            return f"{text}.startswith({node[2]!r})"
        flags = re.UNICODE | (re.IGNORECASE if "i" in node[3] else 0)  # as lxml's EXSLT re:test
        return f"({self.const(re.compile(node[2], flags).search)}({text}) is not None)"

    def reads(self) -> str:
        lines = ["tag = el.tag", "get = el.get"]
        return "; ".join(lines + [f"{var} = get({name!r})" for name, var in self.attrs.items()])


def _self_tags(node: tuple) -> tuple[str, ...] | None:
    """The tags of a predicate made only of ``self::`` tests joined by ``or``."""
    if node[0] == "self":
        return (node[1],)
    if node[0] == "or" and all(part[0] == "self" for part in node[1]):
        return tuple(part[1] for part in node[1])
    return None


def _walk(node, tags: tuple[str, ...]):
    """The elements an XPath ``.//`` step from ``node`` visits, in document order."""
    if isinstance(node, etree._ElementTree):  # from the document node: the root element too
        root = node.getroot()
        return root.iter(*tags) if tags else root.iter(etree.Element)
    return node.iterdescendants(*tags) if tags else node.iterdescendants(etree.Element)


def compile_xpath(path: str) -> Callable[[etree._Element], list[etree._Element]]:
    """A function returning what ``etree.XPath(path)(node)`` returns (module docstring)."""
    terms = []
    for name, preds, first in _Parser(path).path():
        tags = () if name == "*" else (name,)
        if not tags and preds and _self_tags(preds[0]):
            tags, preds = _self_tags(preds[0]), preds[1:]
        terms.append((tags, preds, first))
    walk_tags = () if any(not tags for tags, _, _ in terms) else tuple(dict.fromkeys(t for tags, _, _ in terms for t in tags))
    source = _Source()
    tests = []
    for tags, preds, _ in terms:
        parts = [source.boolean(p) for p in preds]
        if tags and (len(terms) > 1 or not walk_tags):
            parts.insert(0, f"(tag in {frozenset(tags)!r})" if len(tags) > 1 else f"(tag == {tags[0]!r})")
        tests.append(" and ".join(parts) or "True")
    namespace = dict(source.consts, _walk=_walk, _tags=walk_tags)
    if all(first is None for _, _, first in terms):  # one pass, one test
        code = (f"def run(node):\n    out = []\n    for el in _walk(node, _tags):\n        {source.reads()}\n"
                f"        if {' or '.join(f'({t})' for t in tests)}:\n            out.append(el)\n    return out\n")
        exec(compile(code, f"<xpath {path.strip()[:40]}>", "exec"), namespace)  # noqa: S102 (generated from the parse)
        return namespace["run"]
    code = "".join(f"def test{k}(el):\n    {source.reads()}\n    return {t}\n" for k, t in enumerate(tests))
    exec(compile(code, f"<xpath {path.strip()[:40]}>", "exec"), namespace)  # noqa: S102
    return _positional(walk_tags, [(namespace[f"test{k}"], first) for k, (_, _, first) in enumerate(terms)])


def _positional(walk_tags: tuple[str, ...], terms: list[tuple[Callable, str | None]]) -> Callable:
    """A runner for unions where some term keeps only its first match (among siblings or in the document)."""
    def run(node) -> list[etree._Element]:
        found: list[etree._Element] = []
        done = [False] * len(terms)
        parents: list[set] = [set() for _ in terms]
        for el in _walk(node, walk_tags):
            for k, (test, first) in enumerate(terms):
                if done[k] or not test(el):
                    continue
                if first == "siblings":
                    parent = el.getparent()
                    if parent in parents[k]:
                        continue
                    parents[k].add(parent)
                elif first == "document":
                    done[k] = True
                if not found or found[-1] is not el:
                    found.append(el)
            if all(done):
                break
        return found
    return run
