"""Benchmark decontamination by word n-gram overlap (the GPT-3 / MiMo-style check).

Texts are lowercased and split into ``\\w+`` tokens; a text is contaminated when it shares any
n-gram with an evaluation problem. The pretraining corpus uses 13-grams; SFT and synthetic data use
16-grams as MiMo does (``SFT_NGRAM``). Evaluation sets: MATH-500, AIME 2024/2025, HumanEval, plus
whatever the profile adds (the tiny profile's held-out toy problems).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mimo.data.tagging.features import WORD_RE

NGRAM = 13
SFT_NGRAM = 16


def ngrams(text: str, n: int = NGRAM) -> set[tuple[str, ...]]:
    """Set of word n-grams of a text (lowercased ``\\w+`` tokens)."""
    words = [w.lower() for w in WORD_RE.findall(text)]
    return {tuple(words[i: i + n]) for i in range(len(words) - n + 1)}


def load_benchmark_texts(shared_dir: str | Path) -> dict[str, list[str]]:
    """Problem texts of the local benchmark copies, by benchmark name."""
    bench = Path(shared_dir) / "benchmarks"
    out: dict[str, list[str]] = {}
    for name, key in (("math500", "problem"), ("aime24", "problem"), ("aime25", "problem")):
        path = bench / f"{name}.jsonl"
        out[name] = [json.loads(line)[key] for line in path.read_text().splitlines() if line.strip()]
    with gzip.open(bench / "humaneval.jsonl.gz", "rt") as fh:
        out["humaneval"] = [json.loads(line)["prompt"] for line in fh if line.strip()]
    return out


@dataclass
class ContaminationIndex:
    """n-gram index of evaluation problems (``grams`` maps an n-gram to its first ``name:index``)."""

    n: int = NGRAM
    grams: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def build(cls, benchmarks: dict[str, Sequence[str]], n: int = NGRAM) -> "ContaminationIndex":
        index = cls(n=n)
        for name, texts in benchmarks.items():
            for i, text in enumerate(texts):
                for gram in ngrams(text, n):
                    index.grams.setdefault(gram, f"{name}:{i}")
        return index

    def hits(self, text: str) -> list[str]:
        """Benchmark items (``name:index``) that share an n-gram with the text."""
        return sorted({self.grams[g] for g in ngrams(text, self.n) if g in self.grams})

    def contaminated(self, texts: Iterable[str]) -> list[list[str]]:
        """Hits per text."""
        return [self.hits(t) for t in texts]


@dataclass
class DecontaminationReport:
    """What a decontamination pass removed, per evaluation set."""

    checked: int = 0
    removed: int = 0
    removed_by_benchmark: Counter = field(default_factory=Counter)
    examples: list[dict] = field(default_factory=list)

    def to_metadata(self) -> dict:
        return {"checked": self.checked, "removed": self.removed,
                "removed_by_benchmark": dict(sorted(self.removed_by_benchmark.items())),
                "examples": self.examples[:10]}


def decontaminate(records: Sequence[dict], index: ContaminationIndex,
                  text_of: Callable[[dict], str]) -> tuple[list[dict], DecontaminationReport]:
    """Records without any n-gram hit, and a report counting the removed ones per benchmark.

    A record hitting two benchmarks counts once in ``removed`` and once for each benchmark.
    """
    kept, report = [], DecontaminationReport()
    for rec in records:
        report.checked += 1
        hits = index.hits(text_of(rec))
        if not hits:
            kept.append(rec)
            continue
        report.removed += 1
        for name in sorted({h.split(":", 1)[0] for h in hits}):
            report.removed_by_benchmark[name] += 1
        report.examples.append({"id": rec.get("id"), "hits": hits[:3]})
    return kept, report
