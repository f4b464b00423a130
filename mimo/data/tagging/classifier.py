"""A small tagger model: hashed word 1-2-gram bag (fastText-style) with a domain head and three
score heads (quality, knowledge density, reasoning depth), trained with PyTorch on CPU in seconds.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import xxhash
from torch import nn

from mimo.data.tagging.annotator import DOMAINS, SCORE_NAMES, TeacherLabel
from mimo.data.tagging.features import WORD_RE


@dataclass(frozen=True)
class TaggerModelConfig:
    """Hyperparameters of the hashed-n-gram tagger."""

    num_buckets: int = 1 << 17
    dim: int = 32
    max_tokens: int = 3000
    epochs: int = 40
    lr: float = 0.02
    batch_size: int = 16
    holdout_fraction: float = 0.2
    seed: int = 0


def hashed_ngrams(text: str, cfg: TaggerModelConfig) -> list[int]:
    """Bucket ids of the word unigrams and bigrams of a text (lowercased, capped length)."""
    words = [w.lower() for w in WORD_RE.findall(text)[: cfg.max_tokens]]
    # formula and code markers carry signal that \w+ drops
    words += ["<latex>"] * min(text.count("\\"), 50) + ["<fence>"] * min(text.count("```"), 20)
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    return [xxhash.xxh32_intdigest(g.encode()) % cfg.num_buckets for g in grams] or [0]


class TaggerNet(nn.Module):
    """EmbeddingBag encoder with one classification and one regression head."""

    def __init__(self, cfg: TaggerModelConfig):
        super().__init__()
        self.embed = nn.EmbeddingBag(cfg.num_buckets, cfg.dim, mode="mean")
        self.domain_head = nn.Linear(cfg.dim, len(DOMAINS))
        self.score_head = nn.Linear(cfg.dim, len(SCORE_NAMES))

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(ids, offsets)
        return self.domain_head(h), self.score_head(h)


def _batch(rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.tensor([0] + [len(r) for r in rows[:-1]]).cumsum(0)
    return torch.tensor([i for r in rows for i in r]), offsets


@dataclass
class TrainReport:
    """Held-out agreement of the trained model with the teacher labels."""

    n_train: int
    n_holdout: int
    domain_accuracy: float
    score_mae: dict[str, float]
    final_train_loss: float


class TaggerModel:
    """Train, save, load and apply the small tagger."""

    def __init__(self, cfg: TaggerModelConfig = TaggerModelConfig()):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.net = TaggerNet(cfg)

    def fit(self, texts: Sequence[str], labels: Sequence[TeacherLabel]) -> TrainReport:
        """Train on a seeded split; report agreement on the held-out part."""
        order = list(range(len(texts)))
        random.Random(self.cfg.seed).shuffle(order)
        n_hold = int(len(order) * self.cfg.holdout_fraction)
        hold, train = order[:n_hold], order[n_hold:]
        feats = [hashed_ngrams(t, self.cfg) for t in texts]
        dom = torch.tensor([DOMAINS.index(label.domain) for label in labels])
        scores = torch.tensor([[getattr(label, n) for n in SCORE_NAMES] for label in labels], dtype=torch.float32)
        opt = torch.optim.Adam(self.net.parameters(), lr=self.cfg.lr)
        rng = random.Random(self.cfg.seed)
        loss_value = float("nan")
        self.net.train()
        for _ in range(self.cfg.epochs):
            rng.shuffle(train)
            for start in range(0, len(train), self.cfg.batch_size):
                idx = train[start: start + self.cfg.batch_size]
                ids, offsets = _batch([feats[i] for i in idx])
                logits, pred = self.net(ids, offsets)
                loss = nn.functional.cross_entropy(logits, dom[idx]) + 0.2 * nn.functional.mse_loss(pred, scores[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_value = loss.item()
        probs, pred_scores = self._predict_feats([feats[i] for i in hold]) if hold else (np.zeros((0, 4)), np.zeros((0, 3)))
        acc = float((probs.argmax(1) == dom[hold].numpy()).mean()) if hold else float("nan")
        mae = {n: float(np.abs(pred_scores[:, k] - scores[hold, k].numpy()).mean()) if hold else float("nan")
               for k, n in enumerate(SCORE_NAMES)}
        return TrainReport(len(train), len(hold), acc, mae, loss_value)

    def _predict_feats(self, feats: Sequence[list[int]], batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
        self.net.eval()
        probs, scores = [], []
        with torch.no_grad():
            for start in range(0, len(feats), batch):
                ids, offsets = _batch(feats[start: start + batch])
                logits, pred = self.net(ids, offsets)
                probs.append(torch.softmax(logits, -1).numpy())
                scores.append(pred.clamp(0, 5).numpy())
        if not probs:
            return np.zeros((0, len(DOMAINS))), np.zeros((0, len(SCORE_NAMES)))
        return np.concatenate(probs), np.concatenate(scores)

    def predict(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Domain probabilities [n, 4] (order ``DOMAINS``) and scores [n, 3] (order ``SCORE_NAMES``)."""
        return self._predict_feats([hashed_ngrams(t, self.cfg) for t in texts])

    def save(self, directory: str) -> None:
        """Write ``tagger.pt`` and ``tagger_config.json`` into a directory."""
        torch.save(self.net.state_dict(), os.path.join(directory, "tagger.pt"))
        with open(os.path.join(directory, "tagger_config.json"), "w") as fh:
            json.dump({"config": asdict(self.cfg), "domains": DOMAINS, "scores": SCORE_NAMES}, fh, indent=1)

    @classmethod
    def load(cls, directory: str) -> "TaggerModel":
        """Load a model saved by ``save``."""
        with open(os.path.join(directory, "tagger_config.json")) as fh:
            meta = json.load(fh)
        model = cls(TaggerModelConfig(**meta["config"]))
        model.net.load_state_dict(torch.load(os.path.join(directory, "tagger.pt"), weights_only=True))
        return model
