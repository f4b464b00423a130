"""What part of a model response is graded: the final answer after the reasoning, the program.

Reasoning models write ``<think> ... </think>`` before the answer. Only the text after the last
``</think>`` is graded; a response that opens ``<think>`` and never closes it was cut off during
its reasoning and has no answer. A response without think tags is graded whole.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
PYTHON_FENCE_LANGS = frozenset({"", "python", "python3", "py", "py3"})


def final_text(response: str) -> str | None:
    """The graded part of a response, or None when the reasoning never ended (no answer)."""
    close = response.rfind(THINK_CLOSE)
    if close >= 0:
        return response[close + len(THINK_CLOSE):]
    if THINK_OPEN in response:
        return None
    return response


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block (an unterminated last fence runs to the end)."""
    blocks: list[tuple[str, str]] = []
    lang: str | None = None
    body: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if lang is None:
            if stripped.startswith("```"):
                words = stripped.strip("`").split()
                lang, body = (words[0].lower() if words else ""), []
        elif stripped.startswith("```") and not stripped.strip("`").strip():
            blocks.append((lang, "\n".join(body)))
            lang = None
        else:
            body.append(line)
    if lang is not None:
        blocks.append((lang, "\n".join(body)))
    return blocks


def extract_program(response: str) -> str:
    """The program of a code response: the last fenced Python block (a fence with no language
    counts), or the whole final text when it has no fence; ``""`` when there is none."""
    text = final_text(response)
    if text is None:
        return ""
    if "```" not in text:
        return text
    python = [body for lang, body in fenced_blocks(text) if lang in PYTHON_FENCE_LANGS]
    return python[-1] if python else ""
