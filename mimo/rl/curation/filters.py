"""Rule-based RL problem filters: dedup, format (proof / multiple choice), reference solutions,
benchmark decontamination.

Every filter takes and returns :class:`~mimo.problems.records.Problem` lists (order kept) plus
counts per drop reason, for asset metadata.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from mimo.data.decontam import ContaminationIndex, decontaminate
from mimo.generate.base import (
    GenerationRequest,
    Generator,
    SamplingParams,
    generate_all,
)
from mimo.problems.records import Problem
from mimo.verifiers.answer import final_text

FORMAT_REASONS = ("proof", "multiple_choice")

# ------------------------------------------------------------------ dedup
_SENTENCE_PUNCT = re.compile(r"(?<!\d)[.,;:!?]|[.,;:!?](?!\d)")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalize_prompt(prompt: str) -> str:
    """Dedup key of a prompt: NFKC, lowercase, curly quotes made straight, sentence punctuation
    (``.,;:!?``) removed unless it sits between two digits (``3.5``, ``1,000`` keep theirs),
    whitespace collapsed. Math operators, brackets and quotes are kept: they change the problem."""
    text = unicodedata.normalize("NFKC", prompt).lower().translate(_QUOTES)
    text = _SENTENCE_PUNCT.sub(" ", text)
    return " ".join(text.split())


def dedup_problems(problems: Sequence[Problem]) -> tuple[list[Problem], int]:
    """Drop problems whose (domain, normalized prompt) was seen before; keep the first.

    Returns ``(kept, removed_count)``.
    """
    seen: set[tuple[str, str]] = set()
    kept: list[Problem] = []
    for p in problems:
        key = (p.domain, normalize_prompt(p.prompt))
        if key in seen:
            continue
        seen.add(key)
        kept.append(p)
    return kept, len(problems) - len(kept)


# ------------------------------------------------------------------ format (rules)
_PROOF = re.compile(
    r"\b(?:prove|proof|disprove)\b|\b(?:show|demonstrate|establish|justify)\s+that\b", re.IGNORECASE)
# "(A)" as an option marker: not an argument as in P(A), dot(A), f(x)(A), \mathbb{P}(A).
_PAREN_OPT = re.compile(r"(?<![\w)}])\(\s*([A-H])\s*\)")
_TEXTBF_OPT = re.compile(r"\\(?:textbf|mathrm|text|bf)\s*\{\s*\(\s*([A-H])\s*\)")
_LINE_OPT = re.compile(r"(?m)^[ \t>*\-]*\$?\s*([A-H])\s*[.)]\s+\S")
_INLINE_OPT = re.compile(r"(?:^|(?<=\s))([A-H])[.)]\s+\S")
_CHOICES_HEAD = re.compile(r"\b(?:options|choices|answer\s+choices|candidates)\s*:", re.IGNORECASE)
_LISTED_OPT = re.compile(r"(?:^|(?<=[\s(]))\(?([A-Ha-h])[.):]\s*\S", re.MULTILINE)


def _consecutive_from_a(letters: Sequence[str], need: int) -> bool:
    """True when the letters, in order of appearance, contain A, B, ... up to ``need`` options."""
    want, got = 0, 0
    for letter in letters:
        if ord(letter.upper()) - ord("A") == want:
            want, got = want + 1, got + 1
            if got >= need:
                return True
    return False


def format_reason(prompt: str) -> str | None:
    """``"proof"``, ``"multiple_choice"`` or None (a problem with one checkable answer).

    Proof: the words prove/proof/disprove, or show/demonstrate/establish/justify "that".
    Multiple choice: options A, B (, C ...) in order, written ``(A)``, ``\\textbf{(A)}``, ``A.`` /
    ``A)`` at line starts, ``A. x B. y C. z`` inline (three options needed there), or after an
    ``Options:`` / ``Choices:`` header (lowercase letters accepted there). Lowercase ``(a) (b)``
    elsewhere are sub-questions, not options, and are not flagged.
    """
    if _PROOF.search(prompt):
        return "proof"
    if _consecutive_from_a(_TEXTBF_OPT.findall(prompt), 2) or _consecutive_from_a(_PAREN_OPT.findall(prompt), 2):
        return "multiple_choice"
    if _consecutive_from_a(_LINE_OPT.findall(prompt), 2):
        return "multiple_choice"
    if any(_consecutive_from_a(_INLINE_OPT.findall(line), 3) for line in prompt.splitlines()):
        return "multiple_choice"
    head = _CHOICES_HEAD.search(prompt)
    if head and _consecutive_from_a(_LISTED_OPT.findall(prompt[head.end():]), 2):
        return "multiple_choice"
    return None


# ------------------------------------------------------------------ format (LLM)
FORMAT_SYSTEM_PROMPT = "You classify math problems for a reinforcement-learning data set."
FORMAT_QUESTION = (
    "Classify the math problem below. Answer with exactly one word:\n"
    "proof - it asks to prove or show a statement;\n"
    "multiple_choice - the answer is picked from given options (A, B, C, ...);\n"
    "ok - it asks for a single final answer that can be checked (a number, expression, set, ...).\n"
    "Answer with the one word only.\n\nProblem:\n")
DEFAULT_FORMAT_SAMPLING = SamplingParams(n=1, temperature=0.0, max_tokens=1024)
_LABELS = {"proof": "proof", "multiple_choice": "multiple_choice", "multiplechoice": "multiple_choice",
           "ok": "ok", "none": "ok"}


def format_messages(prompt: str) -> list[dict[str, str]]:
    """The classification conversation sent to the LLM filter."""
    return [{"role": "system", "content": FORMAT_SYSTEM_PROMPT},
            {"role": "user", "content": FORMAT_QUESTION + prompt}]


def parse_format_answer(text: str) -> str | None:
    """``"proof"``, ``"multiple_choice"`` or ``"ok"`` from the LLM's answer (after any
    ``</think>``); None when unfinished or not exactly one of the labels."""
    final = final_text(text)
    if final is None:
        return None
    words = re.sub(r"multiple[\s_-]+choice", "multiple_choice", final.lower())
    found = {_LABELS[w] for w in re.findall(r"[a-z_]+", words) if w in _LABELS}
    return found.pop() if len(found) == 1 else None


def filter_format(problems: Sequence[Problem], llm: Generator | None = None,
                  sampling: SamplingParams | None = None, *, progress: bool = True,
                  ) -> tuple[list[Problem], dict[str, int]]:
    """Drop proof and multiple-choice math problems (code problems pass through).

    Without ``llm`` the rule :func:`format_reason` decides. With ``llm`` one request per math
    problem (:func:`format_messages`, default greedy, 1024 tokens) decides; a failed or
    unparseable answer falls back to the rule and counts as ``llm_fallback``. Counts: removed per
    reason, and with ``llm`` also ``llm_fallback``, ``llm_rule_disagree`` (LLM and rule differ) and
    ``llm_completion_tokens``.
    """
    counts: Counter[str] = Counter({r: 0 for r in FORMAT_REASONS})
    math_idx = [i for i, p in enumerate(problems) if p.domain == "math"]
    verdicts: dict[int, str | None] = {i: format_reason(problems[i].prompt) for i in math_idx}
    if llm is not None:
        counts.update({"llm_fallback": 0, "llm_rule_disagree": 0, "llm_completion_tokens": 0})
    if llm is not None and math_idx:
        params = sampling or DEFAULT_FORMAT_SAMPLING
        if params.n != 1:
            params = SamplingParams(**{**params.to_dict(), "n": 1})
        requests = [GenerationRequest(format_messages(problems[i].prompt), params, problems[i].id)
                    for i in math_idx]
        results, usage = generate_all(llm, requests, desc="rl_format_filter", show_progress=progress)
        counts["llm_completion_tokens"] = usage.completion_tokens
        for i, res in zip(math_idx, results):
            done = res.ok and res.completions and res.completions[0].finish_reason != "error"
            label = parse_format_answer(res.completions[0].text) if done else None
            if label is None:
                counts["llm_fallback"] += 1
                continue
            verdict = None if label == "ok" else label
            counts["llm_rule_disagree"] += verdict != verdicts[i]
            verdicts[i] = verdict
    kept = []
    for i, p in enumerate(problems):
        reason = verdicts.get(i)
        if reason is None:
            kept.append(p)
        else:
            counts[reason] += 1
    return kept, dict(counts)


# ------------------------------------------------------------------ reference solutions
def check_reference_solutions(problems: Sequence[Problem], *, workers: int = 2,
                              allow_weak_isolation: bool = False, time_limit_s: float | None = None,
                              ) -> tuple[list[Problem], dict[str, int]]:
    """Drop code problems without tests (``no_tests``) or whose reference solution fails any test
    (``reference_fails``; malformed tests: ``invalid_tests``). Problems without a reference are kept
    and counted (``no_reference``); math problems pass through.

    References run in the code sandbox (:func:`mimo.verifiers.code.score_code`, vanilla scheme).
    A sandbox infrastructure failure raises ``RuntimeError``: it says nothing about the problem.
    """
    from mimo.verifiers.code import score_code

    counts: Counter[str] = Counter({k: 0 for k in ("no_tests", "no_reference", "reference_fails",
                                                   "invalid_tests")})
    drop: set[int] = set()
    to_run: list[int] = []
    for i, p in enumerate(problems):
        if p.domain != "code":
            continue
        if not p.tests:
            counts["no_tests"] += 1
            drop.add(i)
        elif not (p.solution or "").strip():
            counts["no_reference"] += 1
        else:
            to_run.append(i)
    items = []
    for i in to_run:
        item = {"id": problems[i].id, "response": problems[i].solution,
                "tests": [t.to_dict() for t in problems[i].tests]}
        if time_limit_s is not None:
            item["time_limit_s"] = time_limit_s
        items.append(item)
    scores = score_code(items, scheme="vanilla", workers=workers,
                        allow_weak_isolation=allow_weak_isolation) if items else []
    errors = [s for s in scores if s.status == "error"]
    if errors:
        shown = "; ".join(f"{s.id}: {s.detail or 'sandbox error'}" for s in errors[:3])
        raise RuntimeError(f"code sandbox failed on {len(errors)} of {len(items)} reference solutions "
                           f"(an infrastructure problem, not the problems' fault): {shown}")
    for i, s in zip(to_run, scores):
        if s.status == "invalid":
            counts["invalid_tests"] += 1
            drop.add(i)
        elif s.reward != 1.0:
            counts["reference_fails"] += 1
            drop.add(i)
    return [p for i, p in enumerate(problems) if i not in drop], dict(counts)


# ------------------------------------------------------------------ decontamination
def decontaminate_problems(problems: Sequence[Problem], index: ContaminationIndex,
                           ) -> tuple[list[Problem], dict[str, int]]:
    """Drop problems whose prompt shares an n-gram with an evaluation problem
    (:mod:`mimo.data.decontam`). Counts are removed problems per benchmark (a problem hitting two
    benchmarks counts for both; only benchmarks with removals appear)."""
    records = [{"id": p.id, "i": i, "text": p.prompt} for i, p in enumerate(problems)]
    kept, report = decontaminate(records, index, lambda r: r["text"])
    return [problems[r["i"]] for r in kept], dict(sorted(report.removed_by_benchmark.items()))
