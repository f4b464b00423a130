"""Problems with their reference solutions as plain pretraining documents ("worked problems").

Web math pages are largely exercises with worked solutions; at the tiny scale the bundled crawl has
a few dozen such pages, so the training split of the reasoning problems is written out the same way
and mixed into pretraining stages 2 and 3 as a source of its own (``problems``). They are plain
text, not chat: the base model learns the skill, SFT then teaches the think-then-answer chat form.
Only ``split == "train"`` problems are ever rendered (held-out and benchmark problems never are),
and a training problem that shares a 16-word n-gram with a held-out prompt of the same set is left
out, as SFT data is decontaminated (:mod:`mimo.data.decontam`).
"""

from __future__ import annotations

from collections.abc import Sequence

from mimo.data.decontam import SFT_NGRAM, ContaminationIndex
from mimo.problems.records import Problem


def worked_prompt(problem: Problem) -> str:
    """The opening of a worked problem, up to where its solution starts (a base model continues it)."""
    if problem.domain == "code":
        return f"Task: {problem.prompt}\nProgram:\n```python\n"
    return f"Problem: {problem.prompt}\nSolution:\n"


def worked_text(problem: Problem) -> str:
    """One problem and its reference solution as a plain document."""
    if problem.domain == "code":
        return f"{worked_prompt(problem)}{(problem.solution or '').rstrip()}\n```"
    return f"{worked_prompt(problem)}{(problem.solution or '').rstrip()}"


def worked_documents(problems: Sequence[Problem], ngram: int = SFT_NGRAM) -> tuple[list[tuple[str, str, str]], int]:
    """``(doc id, domain, text)`` for every training-split problem with a reference solution and no
    n-gram shared with a held-out prompt; and how many were left out for such an overlap."""
    index = ContaminationIndex.build({"heldout": [p.prompt for p in problems if p.split == "heldout"]}, n=ngram)
    docs, removed = [], 0
    for p in problems:
        if p.split != "train" or not p.solution:
            continue
        text = worked_text(p)
        if index.hits(text):
            removed += 1
            continue
        docs.append((f"problem:{p.id}", p.domain, text))
    return docs, removed
