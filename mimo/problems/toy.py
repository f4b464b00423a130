"""Procedural toy reasoning problems for the "tiny" profile, deterministic by seed.

Math: 15 templates (11 arithmetic word problems, 4 linear equations) in four difficulty levels, the
level being the number of solution steps (1-4: one operation up to four chained ones); levels 1-3
keep operands to one digit (the addition and times tables), level 4 uses two-digit numbers. Each has a
step-by-step solution ending in ``The answer is \\boxed{N}.``. Code: 10 stdin/stdout task
templates with randomized constants, a reference program, and 5 tests (levels 1-3) whose expected
outputs come from a pure Python function mirroring the program.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from mimo.problems.records import Problem, TestCase

NAMES = ("Sam", "Ann", "Tom", "Mia", "Ben", "Lily")
ITEMS = ("apples", "pens", "books", "cards", "eggs", "coins")
MathSpec = tuple[str, list[str], int, int]  # prompt, step lines, answer, level


def _who(r: random.Random) -> tuple[str, str, str]:
    a, b, c = r.sample(NAMES, 3)
    return a, b, c


def _steps(lines: list[str], answer: int) -> str:
    body = [f"Step {i}: {line}" for i, line in enumerate(lines, 1)]
    return "\n".join(body + [f"The answer is \\boxed{{{answer}}}."])


# ---------------------------------------------------------------- math templates
# level = number of solution steps: 1 (one operation) to 4
def m_find_more(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(1, 9), r.randint(1, 9)
    return (f"{n} has {a} {it}. {n} finds {b} more {it}. How many {it} does {n} have now?",
            [f"{a} + {b} = {a + b}."], a + b, 1)


def m_give_away(r: random.Random) -> MathSpec:
    n, o, _ = _who(r)
    it = r.choice(ITEMS)
    a = r.randint(2, 18)
    b = r.randint(max(1, a - 9), min(9, a - 1))
    return (f"{n} has {a} {it}. {n} gives {b} {it} to {o}. How many {it} does {n} have now?",
            [f"{a} - {b} = {a - b}."], a - b, 1)


def m_bags(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    it = r.choice(ITEMS)
    b, c = r.randint(2, 5), r.randint(2, 5)
    return (f"{n} buys {b} bags with {c} {it} in each bag. How many {it} does {n} have?",
            [f"{b} * {c} = {b * c}."], b * c, 1)


def m_linear0(r: random.Random) -> MathSpec:
    b, x = r.randint(1, 9), r.randint(0, 9)
    return (f"Solve for x: x + {b} = {x + b}.", [f"x = {x + b} - {b} = {x}."], x, 1)


def m_give_find(r: random.Random) -> MathSpec:
    n, o, _ = _who(r)
    it = r.choice(ITEMS)
    a, b, c = r.randint(5, 15), r.randint(1, 5), r.randint(1, 9)
    x = a - b
    return (f"{n} has {a} {it}. {n} gives {b} {it} to {o}. Then {n} finds {c} more {it}. "
            f"How many {it} does {n} have now?",
            [f"{a} - {b} = {x}.", f"{x} + {c} = {x + c}."], x + c, 2)


def m_buy_bags(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    it = r.choice(ITEMS)
    a, b, c = r.randint(1, 9), r.randint(2, 4), r.randint(2, 4)
    return (f"{n} has {a} {it}. {n} buys {b} bags with {c} {it} in each bag. "
            f"How many {it} does {n} have now?",
            [f"{b} * {c} = {b * c}.", f"{a} + {b * c} = {a + b * c}."], a + b * c, 2)


def m_share(r: random.Random) -> MathSpec:
    n, o, _ = _who(r)
    it = r.choice(ITEMS)
    k, each = r.randint(2, 4), r.randint(2, 5)
    b = r.randint(1, min(9, k * each - 1))
    a = k * each - b
    return (f"{n} has {a} {it} and {o} gives {n} {b} more. {n} shares all the {it} equally "
            f"among {k} friends. How many {it} does each friend get?",
            [f"{a} + {b} = {k * each}.", f"{k * each} / {k} = {each}."], each, 2)


def m_change(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    q, p, c = r.randint(2, 5), r.randint(1, 4), r.randint(2, 9)
    total = q * p + c
    m = r.choice([x for x in (10, 20, 50) if x >= total])
    return (f"A pen costs {p} dollars and a book costs {c} dollars. {n} buys {q} pens and one book "
            f"and pays with {m} dollars. How much change does {n} get?",
            [f"{q} * {p} = {q * p}.", f"{q * p} + {c} = {total}.", f"{m} - {total} = {m - total}."],
            m - total, 3)


def m_together(r: random.Random) -> MathSpec:
    n, o, t = _who(r)
    it = r.choice(ITEMS)
    a, b = r.randint(2, 10), r.randint(1, 6)
    c = r.randint(1, a + b - 1)
    y, z = a + b, a + b - c
    return (f"{n} has {a} {it}. {o} has {b} more {it} than {n}. {t} has {c} fewer {it} than {o}. "
            f"How many {it} do they have together?",
            [f"{a} + {b} = {y}.", f"{y} - {c} = {z}.", f"{a} + {y} + {z} = {a + y + z}."], a + y + z, 3)


def m_rows(r: random.Random) -> MathSpec:
    rows, cols = r.randint(2, 5), r.randint(2, 5)
    k = r.randint(1, rows * cols // 2)
    j = r.randint(0, rows * cols - k)
    return (f"A room has {rows} rows of {cols} chairs. {k} people sit down, then {j} more people "
            f"sit down. How many chairs are still free?",
            [f"{rows} * {cols} = {rows * cols}.", f"{k} + {j} = {k + j}.",
             f"{rows * cols} - {k + j} = {rows * cols - k - j}."], rows * cols - k - j, 3)


def m_buy_eat_share(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    it = r.choice(ITEMS)
    b, c, e, each = r.randint(2, 4), r.randint(2, 5), r.randint(2, 4), r.randint(1, 5)
    a = r.randint(0, 10)
    d = a + b * c - e * each
    if d < 0:  # keep the arithmetic non-negative
        a, d = a - d, 0
    x = a + b * c
    return (f"{n} has {a} {it} and buys {b} boxes of {c} {it}. {n} loses {d} {it}, then shares "
            f"the rest equally among {e} friends. How many {it} does each friend get?",
            [f"{b} * {c} = {b * c}.", f"{a} + {b * c} = {x}.", f"{x} - {d} = {x - d}.",
             f"{x - d} / {e} = {each}."], each, 4)


def m_pages(r: random.Random) -> MathSpec:
    n, _, _ = _who(r)
    p, d, q, e = r.randint(2, 9), r.randint(2, 5), r.randint(2, 9), r.randint(2, 5)
    read = p * d + q * e
    total = read + r.randint(0, 30)
    return (f"A book has {total} pages. {n} reads {p} pages a day for {d} days, then {q} pages a day "
            f"for {e} days. How many pages are left to read?",
            [f"{p} * {d} = {p * d}.", f"{q} * {e} = {q * e}.", f"{p * d} + {q * e} = {read}.",
             f"{total} - {read} = {total - read}."], total - read, 4)


def _coef(a: int) -> str:
    return "x" if a == 1 else f"{a}x"


def m_linear1(r: random.Random) -> MathSpec:
    a, b, x = r.randint(2, 5), r.randint(1, 9), r.randint(0, 5)
    c = a * x + b
    return (f"Solve for x: {_coef(a)} + {b} = {c}.",
            [f"{_coef(a)} = {c} - {b} = {c - b}.", f"x = {c - b} / {a} = {x}."], x, 2)


def m_linear2(r: random.Random) -> MathSpec:
    c, k, b, x = r.randint(1, 4), r.randint(1, 4), r.randint(1, 9), r.randint(0, 9)
    a = c + k
    d = k * x + b
    return (f"Solve for x: {_coef(a)} + {b} = {_coef(c)} + {d}.",
            [f"{_coef(a)} - {_coef(c)} + {b} = {d}, so {_coef(k)} + {b} = {d}.",
             f"{_coef(k)} = {d} - {b} = {d - b}.", f"x = {d - b} / {k} = {x}."], x, 3)


def m_linear3(r: random.Random) -> MathSpec:
    e, k, b, c, x = r.randint(1, 4), r.randint(1, 4), r.randint(1, 6), r.randint(1, 10), r.randint(0, 10)
    a = e + k
    d = k * x + a * b + c
    return (f"Solve for x: {a}(x + {b}) + {c} = {_coef(e)} + {d}.",
            [f"{_coef(a)} + {a * b} + {c} = {_coef(e)} + {d}.",
             f"{_coef(k)} + {a * b + c} = {d}.", f"{_coef(k)} = {d} - {a * b + c} = {d - a * b - c}.",
             f"x = {d - a * b - c} / {k} = {x}."], x, 4)


MATH_TEMPLATES: dict[str, Callable[[random.Random], MathSpec]] = {
    f.__name__[2:]: f for f in (m_find_more, m_give_away, m_bags, m_linear0, m_give_find, m_buy_bags, m_share,
                                m_change, m_together, m_rows, m_buy_eat_share, m_pages, m_linear1, m_linear2,
                                m_linear3)
}


# ---------------------------------------------------------------- code templates
@dataclass(frozen=True)
class CodeSpec:
    """A code task: prompt, reference program, its pure-Python mirror and an input generator."""

    prompt: str
    program: str
    solve: Callable[[str], str]
    make_input: Callable[[random.Random, int], str]


def _ints(s: str) -> list[int]:
    return [int(t) for t in s.split()]


def _num(r: random.Random, level: int) -> int:
    return {1: r.randint(0, 9), 2: r.randint(10, 99)}.get(level, r.choice([0, -r.randint(1, 99), r.randint(100, 999)]))


def _list_input(r: random.Random, level: int) -> str:
    n = {1: r.randint(1, 3), 2: r.randint(4, 8)}.get(level, r.choice([1, r.randint(15, 30)]))
    xs = [_num(r, level) for _ in range(n)]
    return f"{n}\n{' '.join(map(str, xs))}\n"


_READ_LIST = "n = int(input())\nxs = list(map(int, input().split()))\n"


def c_arith(r: random.Random) -> CodeSpec:
    k = r.randint(1, 30)
    text, expr, fn = r.choice([
        ("a*b+{k}", "a * b + {k}", lambda a, b: a * b + k), ("a+b*{k}", "a + b * {k}", lambda a, b: a + b * k),
        ("a*{k}-b", "a * {k} - b", lambda a, b: a * k - b), ("(a+b)*{k}", "(a + b) * {k}", lambda a, b: (a + b) * k),
    ])
    return CodeSpec(f"Read two integers a and b on one line and print {text.format(k=k)}.",
                    f"a, b = map(int, input().split())\nprint({expr.format(k=k)})\n",
                    lambda s: f"{fn(*_ints(s))}\n", lambda r, lv: f"{_num(r, lv)} {_num(r, lv)}\n")


def c_extreme(r: random.Random) -> CodeSpec:
    k = r.randint(0, 19)
    text, expr, fn = r.choice([("the largest number", "max(xs)", max), ("the smallest number", "min(xs)", min),
                               ("the largest minus the smallest number", "max(xs) - min(xs)",
                                lambda xs: max(xs) - min(xs))])
    plus = f" plus {k}" if k else ""
    return CodeSpec(f"Read n, then n integers on one line. Print {text}{plus}.",
                    _READ_LIST + f"print({expr}{f' + {k}' if k else ''})\n",
                    lambda s: f"{fn(_ints(s)[1:]) + k}\n", _list_input)


def c_digits(r: random.Random) -> CodeSpec:
    k = r.randint(1, 5)
    text, expr, fn = r.choice([("the sum of its digits", "sum(ds)", sum), ("its number of digits", "len(ds)", len),
                               ("its largest digit", "max(ds)", max)])
    times = f" times {k}" if k > 1 else ""
    return CodeSpec(f"Read an integer n. Ignoring the sign, print {text}{times}.",
                    f"ds = [int(c) for c in str(abs(int(input())))]\nprint({expr}{f' * {k}' if k > 1 else ''})\n",
                    lambda s: f"{fn([int(c) for c in str(abs(int(s)))]) * k}\n", lambda r, lv: f"{_num(r, lv)}\n")


def c_reverse(r: random.Random) -> CodeSpec:
    k = r.randint(0, 19)
    inc = f", each increased by {k}" if k else ""
    return CodeSpec(f"Read n, then n integers on one line. Print them in reverse order{inc}, separated by spaces.",
                    _READ_LIST + f"print(' '.join(str(x + {k}) for x in reversed(xs)))\n",
                    lambda s: " ".join(str(x + k) for x in reversed(_ints(s)[1:])) + "\n", _list_input)


def c_count_mult(r: random.Random) -> CodeSpec:
    k = r.randint(2, 9)
    what = "even numbers" if k == 2 else f"numbers divisible by {k}"
    return CodeSpec(f"Read n, then n integers on one line. Print how many of them are {what}.",
                    _READ_LIST + f"print(sum(1 for x in xs if x % {k} == 0))\n",
                    lambda s: f"{sum(1 for x in _ints(s)[1:] if x % k == 0)}\n", _list_input)


def c_count_greater(r: random.Random) -> CodeSpec:
    t = r.randint(-10, 50)
    return CodeSpec(f"Read n, then n integers on one line. Print how many of them are greater than {t}.",
                    _READ_LIST + f"print(sum(1 for x in xs if x > {t}))\n",
                    lambda s: f"{sum(1 for x in _ints(s)[1:] if x > t)}\n", _list_input)


def c_series(r: random.Random) -> CodeSpec:
    k = r.randint(1, 30)
    return CodeSpec(f"Read an integer n. Print {k}*1 + {k}*2 + ... + {k}*n (print 0 when n < 1).",
                    f"n = int(input())\nprint(sum({k} * i for i in range(1, n + 1)))\n",
                    lambda s: f"{sum(k * i for i in range(1, int(s) + 1))}\n", lambda r, lv: f"{_num(r, lv)}\n")


def _word(r: random.Random, level: int) -> str:
    n = {1: r.randint(1, 4), 2: r.randint(5, 10)}.get(level, r.choice([1, r.randint(20, 40)]))
    return "".join(r.choice("abcdeio" if level < 3 else "abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def c_count_char(r: random.Random) -> CodeSpec:
    c = r.choice("abcdeio")
    return CodeSpec(f"Read a word of lowercase letters. Print how many times the letter '{c}' appears in it.",
                    f"print(input().strip().count('{c}'))\n",
                    lambda s: f"{s.strip().count(c)}\n", lambda r, lv: _word(r, lv) + "\n")


def c_divisible(r: random.Random) -> CodeSpec:
    k = r.randint(2, 20)
    yes, no = r.choice([("yes", "no"), ("YES", "NO"), ("true", "false"), ("1", "0")])
    return CodeSpec(f"Read an integer n. Print {yes} if n is divisible by {k}, otherwise print {no}.",
                    f"n = int(input())\nprint('{yes}' if n % {k} == 0 else '{no}')\n",
                    lambda s: f"{yes if int(s) % k == 0 else no}\n",
                    lambda r, lv: f"{_num(r, lv) * r.choice([1, k])}\n")


def c_word(r: random.Random) -> CodeSpec:
    k = r.randint(1, 4)
    text, expr, fn = r.choice([("reversed", "w[::-1]", lambda w: w[::-1]), ("in uppercase", "w.upper()", str.upper),
                               ("with its first and last letters swapped", "w[-1] + w[1:-1] + w[0] if len(w) > 1 else w",
                                lambda w: w[-1] + w[1:-1] + w[0] if len(w) > 1 else w)])
    rep = f", repeated {k} times with no spaces" if k > 1 else ""
    return CodeSpec(f"Read a word of lowercase letters. Print it {text}{rep}.",
                    f"w = input().strip()\nprint(({expr}) * {k})\n",
                    lambda s: f"{fn(s.strip()) * k}\n", lambda r, lv: _word(r, lv) + "\n")


CODE_TEMPLATES: dict[str, Callable[[random.Random], CodeSpec]] = {
    f.__name__[2:]: f for f in (c_arith, c_extreme, c_digits, c_reverse, c_count_mult, c_count_greater,
                                c_series, c_count_char, c_divisible, c_word)
}
TEST_LEVELS = (1, 1, 2, 3, 3)


def _code_tests(spec: CodeSpec, r: random.Random) -> tuple[TestCase, ...]:
    tests: list[TestCase] = []
    seen: set[str] = set()
    for level in TEST_LEVELS:
        for _ in range(20):  # prefer distinct inputs, accept a repeat after 20 tries
            inp = spec.make_input(r, level)
            if inp not in seen:
                break
        seen.add(inp)
        tests.append(TestCase(input=inp, output=spec.solve(inp), level=level))
    return tuple(tests)


def _split(prompt: str, heldout_fraction: float, seed: int) -> str:
    h = int(hashlib.sha256(f"{seed}:{prompt}".encode()).hexdigest()[:8], 16) / 16**8
    return "heldout" if h < heldout_fraction else "train"


def _unique(n: int, domain: str, make: Callable[[random.Random], Problem | None], r: random.Random) -> list[Problem]:
    out: list[Problem] = []
    seen: set[str] = set()
    misses = 0  # consecutive duplicates; many in a row means the template space is exhausted
    while len(out) < n:
        p = make(r)
        if p is not None and p.prompt not in seen:
            seen.add(p.prompt)
            out.append(p)
            misses = 0
        else:
            misses += 1
            if misses > 5000:
                raise ValueError(f"could not generate {n} distinct toy {domain} prompts (got {len(out)})")
    return out


def _templates_by_level() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for name, make in sorted(MATH_TEMPLATES.items()):
        out.setdefault(make(random.Random(0))[3], []).append(name)
    return out


def generate_toy_problems(n_math: int, n_code: int, seed: int = 0, heldout_fraction: float = 0.2,
                          level_weights: dict[int, float] | None = None) -> list[Problem]:
    """Generate ``n_math`` math and ``n_code`` code toy problems (distinct prompts), split train/heldout.

    ``level_weights`` (level -> weight) draws a level first, then a template of it; absent, every
    math template is equally likely."""
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout_fraction must be in [0, 1], got {heldout_fraction}")
    math_names, code_names = sorted(MATH_TEMPLATES), sorted(CODE_TEMPLATES)
    by_level = _templates_by_level()
    if level_weights is not None:
        unknown = sorted(set(level_weights) - set(by_level))
        if unknown or not any(w > 0 for w in level_weights.values()) or any(w < 0 for w in level_weights.values()):
            raise ValueError(f"level_weights must give levels {sorted(by_level)} non-negative weights, some "
                             f"positive; got {level_weights}")
    levels = sorted(level_weights or {})
    weights = [level_weights[lv] for lv in levels] if level_weights else []

    def make_math(r: random.Random) -> Problem:
        name = r.choice(by_level[r.choices(levels, weights)[0]]) if levels else r.choice(math_names)
        prompt, lines, answer, level = MATH_TEMPLATES[name](r)
        return Problem(id="", source="toy", domain="math", prompt=prompt, answer=str(answer),
                       solution=_steps(lines, answer), split=_split(prompt, heldout_fraction, seed),
                       metadata={"template": name, "level": level, "steps": len(lines)})

    def make_code(r: random.Random) -> Problem:
        name = r.choice(code_names)
        spec = CODE_TEMPLATES[name](r)
        return Problem(id="", source="toy", domain="code", prompt=spec.prompt, tests=_code_tests(spec, r),
                       solution=spec.program, split=_split(spec.prompt, heldout_fraction, seed),
                       metadata={"template": name, "test_levels": list(TEST_LEVELS)})

    maths = _unique(n_math, "math", make_math, random.Random(f"toy-math-{seed}"))
    codes = _unique(n_code, "code", make_code, random.Random(f"toy-code-{seed}"))
    out = [_with_id(p, f"toy-math-{i:05d}") for i, p in enumerate(maths)]
    out += [_with_id(p, f"toy-code-{i:05d}") for i, p in enumerate(codes)]
    return out


def _with_id(p: Problem, pid: str) -> Problem:
    return replace(p, id=pid)
