"""A generator that answers with reference solutions: the evaluation machinery's own correctness
check. Replaying the references must score 100% (MATH-500 solutions, HumanEval canonical
programs); replaying a shuffled assignment (every prompt gets another problem's reference) must
score about 0%."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mimo.generate.base import Completion, Generator, Message, SamplingParams
from mimo.problems.records import Problem


class ReplayGenerator(Generator):
    """Looks up the problem by the last user message and returns its reference ``solution``
    (``shuffle=True``: a derangement, each prompt answered with a different problem's reference)."""

    backend = "replay"

    def __init__(self, problems: Sequence[Problem], *, shuffle: bool = False, seed: int = 0):
        super().__init__("replay-shuffled" if shuffle else "replay-reference")
        refs = [p for p in problems if p.solution]
        if not refs:
            raise ValueError("no problem has a reference solution to replay")
        answers = [p.solution for p in refs]
        if shuffle:
            if len(refs) < 2:
                raise ValueError("shuffling needs at least two references")
            shift = random.Random(seed).randrange(1, len(refs))
            answers = answers[shift:] + answers[:shift]  # a rotation: nobody keeps their own
        self.by_prompt = {p.prompt: a for p, a in zip(refs, answers)}

    def generate(self, messages: Sequence[Message], params: SamplingParams) -> list[Completion]:
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        matches = [prompt for prompt in self.by_prompt if prompt in user]  # the longest: most specific
        answer = self.by_prompt[max(matches, key=len)] if matches else None
        if answer is None:
            return [Completion("", "error", 0, error="no reference for this prompt")] * params.n
        return [Completion(answer, "stop", len(answer.split())) for _ in range(params.n)]
