"""Chat prompts of the three MiMo synthetic-data strategies, and their parsers.

(1) grounded analyses of high-reasoning-depth documents, (2) solutions to math and code problems,
(3) responses to general queries. Each user message starts with a fixed header, so any backend
(a real model or the procedural teacher) can be given exactly the same conversation.
"""

from __future__ import annotations

from typing import Any

from mimo.generate.base import Message

SYSTEM_PROMPT = (
    "You are a careful reasoning assistant. First think step by step inside <think> and </think>, "
    "then give the final response. Put a final math answer in \\boxed{}; give a program as one "
    "```python fenced block that reads standard input and prints the answer."
)
GROUNDED_HEADER = "Analyze the following document in depth. Explain its reasoning, check its claims " \
                  "and work through its formulas or code step by step."
SOLVE_MATH_HEADER = "Solve the following math problem. Reason step by step and put the final answer " \
                    "in \\boxed{}."
SOLVE_CODE_HEADER = "Write a Python program for the following task. Reason about the approach first, " \
                    "then give the complete program in one ```python block."
GENERAL_HEADER = "Respond to the following request."
DOC_START, DOC_END = "<document>", "</document>"
TASK_KINDS = ("grounded", "solve_math", "solve_code", "general")


def _conversation(user: str) -> list[Message]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def grounded_messages(document: str, title: str = "") -> list[Message]:
    """Strategy 1: analysis and in-depth thinking grounded on one document."""
    head = f"Title: {title}\n" if title else ""
    return _conversation(f"{GROUNDED_HEADER}\n\n{head}{DOC_START}\n{document}\n{DOC_END}")


def solve_messages(domain: str, problem_prompt: str) -> list[Message]:
    """Strategy 2: solve a math or code problem."""
    header = SOLVE_MATH_HEADER if domain == "math" else SOLVE_CODE_HEADER
    return _conversation(f"{header}\n\n{problem_prompt}")


def rollout_messages(problem: Any, system_prompt: str | None = None) -> list[Message]:
    """The conversation of one rollout or evaluation sample of ``problem`` (a
    :class:`~mimo.problems.records.Problem`): the SFT solve prompt; ``system_prompt`` replaces its system
    message (``""`` drops it)."""
    messages = solve_messages(problem.domain, problem.prompt)
    if system_prompt is None:
        return messages
    rest = [m for m in messages if m["role"] != "system"]
    return ([{"role": "system", "content": system_prompt}] if system_prompt else []) + rest


def general_messages(query: str) -> list[Message]:
    """Strategy 3: a general query (creative writing and the like)."""
    return _conversation(f"{GENERAL_HEADER}\n\n{query}")


def last_user_content(messages: list[Message]) -> str:
    """Content of the last user message ('' when there is none)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return str(m.get("content", ""))
    return ""


def parse_task(messages: list[Message]) -> tuple[str | None, str, str]:
    """``(kind, payload, title)`` of a conversation built by this module; kind None otherwise.

    payload is the document text (grounded), the problem prompt (solve_*) or the query (general).
    """
    user = last_user_content(messages)
    for kind, header in (("solve_math", SOLVE_MATH_HEADER), ("solve_code", SOLVE_CODE_HEADER),
                         ("general", GENERAL_HEADER)):
        if user.startswith(header + "\n\n"):
            return kind, user[len(header) + 2:], ""
    if user.startswith(GROUNDED_HEADER + "\n\n") and DOC_START in user and DOC_END in user:
        body = user[len(GROUNDED_HEADER) + 2:]
        title = body[len("Title: "):body.index("\n")] if body.startswith("Title: ") else ""
        doc = body[body.index(DOC_START) + len(DOC_START):body.rindex(DOC_END)].strip("\n")
        return "grounded", doc, title
    return None, user, ""
