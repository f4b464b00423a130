"""Token choice for speculative decoding: warped probabilities, draft sampling and the acceptance step.

``warp_probs`` applies temperature and top-p exactly as the transformers backend's sampler does (a
token is dropped when the probability mass strictly above it is already >= ``top_p``). The same warp
is applied to the target (main model) and to the draft (MTP layer) logits, so ``verify_drafts``
preserves the warped target distribution:

- greedy (``temperature == 0``): a draft is accepted iff it equals the target's argmax; the first
  rejected position, or the position after the last draft, takes the target's argmax. The output is
  the plain greedy sequence.
- sampling: draft ``x`` (drawn from ``q``) is accepted with probability ``min(1, p(x)/q(x))``; on
  rejection the token is drawn from ``max(0, p - q)`` renormalized; when every draft is accepted a
  bonus token is drawn from the next target distribution (Leviathan et al. 2023, Chen et al. 2023).
  A greedy draft is the one-hot ``q``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def warp_probs(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """Float64 probabilities over the last dimension after temperature and nucleus filtering
    (renormalized). ``temperature`` must be > 0."""
    if temperature <= 0:
        raise ValueError("warp_probs needs temperature > 0 (greedy uses argmax)")
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(dim=-1) - sorted_probs  # mass strictly above each token
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return probs / probs.sum(dim=-1, keepdim=True)


def sample(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    """One token from a 1-D probability vector (inverse CDF on one uniform draw; zero-probability
    tokens are never picked)."""
    cdf = probs.cumsum(-1)
    u = torch.rand((), generator=generator, dtype=torch.float64, device=probs.device) * cdf[-1]
    idx = int(torch.searchsorted(cdf, u.reshape(1), right=True).item())
    return min(idx, probs.shape[-1] - 1)


def choose_token(logits: torch.Tensor, temperature: float, top_p: float,
                 generator: torch.Generator | None) -> tuple[int, torch.Tensor | None]:
    """(token, its distribution) from 1-D ``logits``: argmax and ``None`` when greedy, else a sample
    from the warped distribution and that distribution."""
    if temperature == 0:
        return int(logits.argmax(-1).item()), None
    probs = warp_probs(logits, temperature, top_p)
    return sample(probs, generator), probs


def verify_drafts(target_logits: torch.Tensor, drafts: Sequence[int],
                  draft_probs: Sequence[torch.Tensor | None], temperature: float, top_p: float,
                  generator: torch.Generator | None) -> tuple[int, int]:
    """Accept a prefix of ``drafts`` and choose the token after it.

    ``target_logits[i]`` (shape ``(len(drafts) + 1, vocab)``) is the main model's prediction for the
    position of ``drafts[i]``; its last row predicts the token after the last draft. ``draft_probs[i]``
    is the distribution ``drafts[i]`` was drawn from (``None``: a greedy, one-hot draft). Returns
    ``(number accepted, next token)``: the next token is the correction at the first rejected
    position, or the bonus token when every draft was accepted.
    """
    n = len(drafts)
    if target_logits.shape[0] != n + 1:
        raise ValueError(f"{n} drafts need {n + 1} rows of target logits, got {target_logits.shape[0]}")
    if temperature == 0:
        greedy = target_logits.argmax(-1).tolist()
        for i, d in enumerate(drafts):
            if d != greedy[i]:
                return i, int(greedy[i])
        return n, int(greedy[n])
    for i, d in enumerate(drafts):
        p = warp_probs(target_logits[i], temperature, top_p)
        q = draft_probs[i]
        q_x = 1.0 if q is None else float(q[d])
        u = float(torch.rand((), generator=generator, dtype=torch.float64, device=p.device))
        if u * q_x < float(p[d]):  # accept with probability min(1, p(x)/q(x))
            continue
        if q is None:
            residual = p.clone()
            residual[d] = 0.0
        else:
            residual = (p - q.to(p.dtype)).clamp(min=0.0)
        if float(residual.sum()) <= 0.0:  # only when p == q up to round-off: acceptance was ~certain
            residual = p
        return i, sample(residual / residual.sum(), generator)
    return n, sample(warp_probs(target_logits[n], temperature, top_p), generator)


__all__ = ["choose_token", "sample", "verify_drafts", "warp_probs"]
