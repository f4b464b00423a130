"""Shared helpers: a scripted generator and small problem builders."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mimo.generate.base import Completion, Generator, Message, SamplingParams
from mimo.problems.records import Problem, TestCase
from mimo.synth.prompts import last_user_content


class ScriptedGenerator(Generator):
    """Answers with ``reply(user message, sample index)``; a reply that is an exception is raised,
    ``None`` yields a completion with finish_reason "error"."""

    backend = "scripted"

    def __init__(self, reply: Callable[[str, int], str | Exception | None]) -> None:
        super().__init__("scripted")
        self.reply = reply
        self.requests: list[list[Message]] = []

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> list[Completion]:
        self.requests.append(list(messages))
        out = []
        for i in range(params.n):
            text = self.reply(last_user_content(list(messages)), i)
            if isinstance(text, Exception):
                raise text
            if text is None:
                out.append(Completion("", "error", 0, error="boom"))
            else:
                out.append(Completion(text, "stop", len(text.split()), 5))
        return out


def math_problem(pid: str, prompt: str, answer: str = "1", **kw) -> Problem:
    return Problem(id=pid, source="t", domain="math", prompt=prompt, answer=answer, split="train", **kw)


ADD = "a, b = map(int, input().split())\nprint(a + b)\n"
ADD_TESTS = (TestCase(input="1 2", output="3"), TestCase(input="10 -4", output="6"),
             TestCase(input="0 0", output="0"))


def code_problem(pid: str, prompt: str = "Read two integers and print their sum.",
                 solution: str | None = ADD, tests: tuple[TestCase, ...] = ADD_TESTS, **kw) -> Problem:
    return Problem(id=pid, source="t", domain="code", prompt=prompt, tests=tests, solution=solution,
                   split="train", **kw)
