"""Benchmark decontamination by word 13-gram overlap (the GPT-3 / MiMo-style check).

Texts are lowercased and split into ``\\w+`` tokens; a document is contaminated when it shares any
13-gram with a benchmark problem. Benchmarks: MATH-500, AIME 2024/2025 and HumanEval prompts.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mimo.data.tagging.features import WORD_RE

NGRAM = 13


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
    """13-gram index of benchmark problems."""

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
        """Benchmark items (``name:index``) that share a 13-gram with the text."""
        return sorted({self.grams[g] for g in ngrams(text, self.n) if g in self.grams})

    def contaminated(self, texts: Iterable[str]) -> list[list[str]]:
        """Hits per text."""
        return [self.hits(t) for t in texts]
