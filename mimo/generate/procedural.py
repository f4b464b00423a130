"""The procedural teacher: a rule-based program that answers the synthetic-data prompts.

It exists so the tiny profile can run the synthetic-data path end to end on a CPU with no trained
model. It is labelled everywhere as ``backend="procedural"``, ``model="procedural-teacher"``,
``is_model=False``: it is not a language model and its outputs are templates.

What it does per task (see :mod:`mimo.synth.prompts`):
- solve_math / solve_code: rewrites the reference solution of a problem it was *given* into a
  think-then-answer response; with configured rates it plants a wrong answer (changed number or a
  mutated program), omits the final answer, or truncates, so verification has work to do.
  Problems it was not given get an honest "cannot solve" (no final answer).
- grounded: extracts the document's claims, formulas and code, re-checks simple arithmetic
  statements (``a + b = c``) and writes an analysis around them.
- general: composes a short piece (poem, story, letter, dialogue, essay) from word banks.
Token counts are approximate (words and punctuation), see ``TOKEN_COUNTER``.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence

from mimo.data.tagging.features import approx_tokens
from mimo.generate.base import Completion, Generator, Message, SamplingParams
from mimo.generate.config import ProceduralOptions
from mimo.problems.records import Problem
from mimo.synth.prompts import parse_task

MODEL_NAME = "procedural-teacher"
_SENT = re.compile(r"(?<=[.!?])\s+")
_ARITH = re.compile(r"(-?\d+)\s*([+\-*×x/])\s*(-?\d+)\s*=\s*(-?\d+)")
_FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$\n]{1,200}\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
_CODE = re.compile(r"```[a-zA-Z0-9]*\n(.*?)```", re.S)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


class ProceduralTeacher(Generator):
    """Rule-based teacher for the tiny profile (not a model; see the module docstring)."""

    backend = "procedural"
    is_model = False

    def __init__(self, options: ProceduralOptions | None = None, problems: Iterable[Problem] = ()) -> None:
        super().__init__(MODEL_NAME)
        self.options = options or ProceduralOptions()
        self._problems: dict[str, Problem] = {}
        self.add_problems(problems)

    def add_problems(self, problems: Iterable[Problem]) -> None:
        """Give the teacher reference solutions it may rewrite."""
        for p in problems:
            if p.solution:
                self._problems[p.prompt.strip()] = p

    # ------------------------------------------------------------------ interface
    def generate(self, messages: Sequence[Message], params: SamplingParams) -> list[Completion]:
        kind, payload, title = parse_task(list(messages))
        prompt_tokens = sum(approx_tokens(m.get("content", "")) for m in messages)
        out = []
        for i in range(params.n):
            rng = _rng(self.options.seed, params.seed, i, kind, payload)
            if kind in ("solve_math", "solve_code"):
                text, truncate = self._solve(kind, payload, rng)
            elif kind == "grounded":
                text, truncate = self._analyze(payload, title, rng), rng.random() < self.options.truncate_rate
            elif kind == "general":
                text, truncate = self._compose(payload, rng), rng.random() < self.options.truncate_rate
            else:
                text, truncate = ("<think>\nThis request is not one of the synthetic-data tasks the "
                                  "procedural teacher implements.\n</think>\n\nI cannot answer this."), False
            out.append(self._finish(text, truncate, params, prompt_tokens))
        return out

    def describe(self) -> dict:
        d = super().describe()
        d["note"] = "rule-based procedural teacher for the tiny profile; not a language model"
        d["options"] = self.options.model_dump()
        return d

    @staticmethod
    def _finish(text: str, truncate: bool, params: SamplingParams, prompt_tokens: int) -> Completion:
        """Apply planted truncation, stop strings and max_tokens like a real backend would."""
        reason = "stop"
        if truncate:
            text, reason = text[: max(1, len(text) // 2)], "length"
        for s in params.stop:
            if s and s in text:
                text, reason = text[: text.index(s)], "stop"
        if approx_tokens(text) > params.max_tokens:
            kept, count = [], 0
            for piece in re.findall(r"\S+\s*", text):
                count += approx_tokens(piece)
                if count > params.max_tokens:
                    break
                kept.append(piece)
            text, reason = "".join(kept), "length"
        return Completion(text=text, finish_reason=reason, completion_tokens=approx_tokens(text),
                          prompt_tokens=prompt_tokens)

    # ------------------------------------------------------------------ solve
    def _solve(self, kind: str, prompt: str, rng: random.Random) -> tuple[str, bool]:
        problem = self._problems.get(prompt.strip())
        if problem is None:
            return ("<think>\nI was not given a reference for this problem and I am a rule-based "
                    "teacher, so I cannot work it out.\n</think>\n\nI cannot solve this problem."), False
        o = self.options
        roll = rng.random()
        mode = ("wrong" if roll < o.wrong_answer_rate else
                "no_answer" if roll < o.wrong_answer_rate + o.no_answer_rate else "ok")
        truncate = rng.random() < o.truncate_rate
        if kind == "solve_math":
            return self._math_response(problem, mode, rng), truncate
        return self._code_response(problem, mode, rng), truncate

    @staticmethod
    def _math_response(p: Problem, mode: str, rng: random.Random) -> str:
        steps = [ln for ln in (p.solution or "").splitlines() if ln.startswith("Step")]
        answer = str(p.answer)
        if mode == "wrong" and re.fullmatch(r"-?\d+", answer):
            wrong = str(int(answer) + rng.choice([-3, -2, -1, 1, 2, 3]))
            if steps:
                steps[-1] = re.sub(r"=\s*-?\d+\.$", f"= {wrong}.", steps[-1])
            answer = wrong
        opener = rng.choice(["Let me work through this step by step.", "I will compute it in order.",
                             "First I list what is given, then I compute."])
        think = "\n".join([opener, *steps, f"So the result is {answer}."])
        final = {"ok": f"The answer is \\boxed{{{answer}}}.", "wrong": f"The answer is \\boxed{{{answer}}}.",
                 "no_answer": "I am not sure about the final value."}[mode]
        return f"<think>\n{think}\n</think>\n\n{final}"

    @staticmethod
    def _code_response(p: Problem, mode: str, rng: random.Random) -> str:
        program = (p.solution or "").rstrip("\n")
        if mode == "wrong":
            program = _mutate_program(program, rng)
        plan = rng.choice(["I read the input, compute the value, and print it.",
                           "Parse the numbers from standard input, apply the rule, print the result."])
        think = f"The task: {p.prompt}\n{plan}\nThe program has {len(program.splitlines())} lines."
        if mode == "no_answer":
            return f"<think>\n{think}\n</think>\n\nI would read the input and print the result."
        return f"<think>\n{think}\n</think>\n\n```python\n{program}\n```"

    # ------------------------------------------------------------------ grounded analysis
    @staticmethod
    def _analyze(doc: str, title: str, rng: random.Random) -> str:
        sentences = [s.strip() for s in _SENT.split(" ".join(doc.split())) if len(s.split()) >= 5]
        topic = title or (sentences[0][:120] if sentences else "an untitled text")
        claims = [s for s in sentences if re.search(r"\d|=|\$|\\\(", s)][:4] or sentences[:3]
        formulas = [f.strip() for f in _FORMULA.findall(doc)][:3]
        code = [c.strip() for c in _CODE.findall(doc)][:1]
        think = [f"The document is about: {topic}.", f"It has {len(sentences)} substantive sentences; "
                 f"I check the {len(claims)} that carry numbers or formulas."]
        for k, claim in enumerate(claims, 1):
            think.append(f"Claim {k}: \"{claim[:300]}\"")
            for a, op, b, c in _ARITH.findall(claim):
                value = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b),
                         "×": int(a) * int(b), "x": int(a) * int(b),
                         "/": int(a) / int(b) if int(b) else float("nan")}[op]
                verdict = "holds" if value == int(c) else f"does not hold (it gives {value:g})"
                think.append(f"  Checking {a} {op} {b} = {c}: it {verdict}.")
        for f in formulas:
            think.append(f"Formula {f[:200]}: I restate it and check that every symbol is defined in the text.")
        for c in code:
            names = re.findall(r"def (\w+)", c)
            think.append(f"The code has {len(c.splitlines())} lines" +
                         (f" and defines {', '.join(names)}" if names else "") + "; I trace it on a small input.")
        summary = " ".join(sentences[:2]) if sentences else doc[:300]
        steps = "\n".join(f"{k}. {s[:200]}" for k, s in enumerate(claims, 1))
        closing = rng.choice(["The argument is consistent where I could check it.",
                              "The checks above are the parts a reader should verify."])
        return ("<think>\n" + "\n".join(think) + f"\n</think>\n\n**Summary.** {summary}\n\n"
                f"**Key reasoning steps.**\n{steps}\n\n**Assessment.** {closing}")

    # ------------------------------------------------------------------ general queries
    @staticmethod
    def _compose(query: str, rng: random.Random) -> str:
        about = re.search(r"\b(?:about|on|of|to)\s+(.+?)[.?!]*$", query.strip(), re.I)
        words = [w for w in re.findall(r"[A-Za-z]+", query) if len(w) > 3]
        topic = (about.group(1) if about else " ".join(words[-3:]) or "the subject").lower()[:80]
        q = query.lower()
        images = ["morning light", "a quiet street", "the distant sea", "an open window", "old maps",
                  "falling leaves", "a long road", "the evening bell", "cold rain", "a kept promise"]
        pick = rng.sample(images, 4)
        if "poem" in q or "haiku" in q:
            kind = "poem"
            body = "\n".join([f"Of {topic} I keep {pick[0]},", f"and {pick[1]} that will not fade;",
                              f"through {pick[2]} the old thoughts go,", f"to rest in {pick[3]}'s shade."])
        elif "letter" in q:
            kind = "letter"
            body = (f"Dear friend,\n\nI have been thinking about {topic}. It reminds me of {pick[0]} and "
                    f"{pick[1]}. I hope we can talk about it soon.\n\nWarmly,\nA.")
        elif "dialogue" in q or "conversation" in q:
            kind = "dialogue"
            body = (f"A: What do you make of {topic}?\nB: It is like {pick[0]}.\n"
                    f"A: Or like {pick[1]}?\nB: Both, depending on the day.")
        elif "story" in q or "tale" in q:
            kind = "story"
            body = (f"Once, in a town of {pick[0]}, someone set out to understand {topic}. "
                    f"They walked past {pick[1]} and {pick[2]}, and at last, under {pick[3]}, "
                    f"they understood that the answer had been with them from the start.")
        else:
            kind = "short essay"
            body = (f"{topic.capitalize()} matters for three reasons. First, it shapes how we see "
                    f"{pick[0]}. Second, it connects to {pick[1]}. Third, it asks us to notice "
                    f"{pick[2]}. In short, it rewards attention.")
        think = (f"The request asks for a {kind} about {topic}. I plan the structure, choose images "
                 f"({', '.join(pick[:2])}) and keep it short.")
        return f"<think>\n{think}\n</think>\n\n{body}"


def _mutate_program(program: str, rng: random.Random) -> str:
    """A plausible bug: an off-by-one in the printed value, or a flipped comparison/operator."""
    candidates = []
    if "print(" in program:
        candidates.append(lambda s: s.replace("print(", "print(1 + ", 1) if "join" not in s
                          else s.replace("str(x", "str(1 + x", 1))
    for a, b in (("<", "<="), (">", ">="), ("+", "-"), ("%", "//"), ("max(", "min(")):
        if a in program:
            candidates.append(lambda s, a=a, b=b: s.replace(a, b, 1))
    if not candidates:
        return program + "\nprint(0)"
    mutated = rng.choice(candidates)(program)
    return mutated if mutated != program else program + "\nprint(0)"

