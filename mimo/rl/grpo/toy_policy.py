"""A controlled toy policy for tests and benches of the RL loop (not part of the recipe).

:func:`digit_problems` are "Say the digit d." prompts (answer ``d`` in 1..3, several phrasings);
:func:`teach_random_digits` gives a small model a few supervised steps so it answers any of them
with ``\\boxed{d'}``, ``d'`` drawn uniformly from 1..3, ignoring the prompt: about a third of its
rollouts are right, so GRPO groups have differing rewards, and reading the digit off the prompt
is what RL can teach it.
"""

from __future__ import annotations

import random
from typing import Any

PHRASINGS = ("Say the digit {d}.", "Write the digit {d}.", "Answer with the digit {d}.",
             "Repeat this digit: {d}.", "Your answer is the digit {d}.", "Output {d}, nothing else.")


def digit_problems(phrasings: tuple[str, ...] = PHRASINGS, digits: str = "123", split: str = "train") -> list[Any]:
    """One math :class:`~mimo.problems.records.Problem` per (phrasing, digit)."""
    from mimo.problems.records import Problem

    return [Problem(id=f"{split}-{i}-{d}", source="toy-digits", domain="math", prompt=p.format(d=d), answer=d,
                    split=split)
            for i, p in enumerate(phrasings) for d in digits]


def teach_random_digits(model: Any, tokenizer: Any, problems: list[Any], steps: int = 150, seed: int = 0,
                        lr: float = 3e-3) -> None:
    """Supervised steps on ``\\boxed{random digit}`` answers (in place; the model ends in eval mode)."""
    import torch

    from mimo.rl.curation.rollouts import rollout_messages

    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        convs = [rollout_messages(p) + [{"role": "assistant", "content": f"\\boxed{{{rng.choice('123')}}}"}]
                 for p in rng.sample(problems, min(4, len(problems)))]
        supervised_step(model, tokenizer, convs, opt)
    model.eval()


def supervised_step(model: Any, tokenizer: Any, conversations: list[list[dict[str, str]]], opt: Any) -> float:
    """One optimizer step of next-token loss on the assistant turns of ``conversations``; the loss."""
    import torch

    from mimo.sft.packing import tokenize_conversation

    rows = [tokenize_conversation(conv, tokenizer) for conv in conversations]
    width = max(len(i) for i, _ in rows)
    ids = torch.tensor([i + [0] * (width - len(i)) for i, _ in rows])
    labels = torch.tensor([[t if m else -100 for t, m in zip(i, mk)] + [-100] * (width - len(i)) for i, mk in rows])
    attn = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in rows])
    loss = model(input_ids=ids, attention_mask=attn, labels=labels, mtp_loss_weight=0.0).loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())
