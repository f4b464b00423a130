"""The GRPO loss on hand-computed examples: token-level normalization, clipping on both sides
(Clip-Higher), zero-advantage groups, the KL term, micro-batch accumulation."""

import math

import pytest
import torch

from mimo.rl.grpo.config import GRPOConfig
from mimo.rl.grpo.loss import group_advantages, grpo_loss, token_entropy


def test_group_advantages_by_hand():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]), 4)
    # group 1: mean 0.25, std sqrt(0.1875) = 0.4330 -> (0.75 / 0.4330, -0.25 / 0.4330 x3)
    std = math.sqrt(0.1875)
    torch.testing.assert_close(adv[:4], torch.tensor([0.75 / std, -0.25 / std, -0.25 / std, -0.25 / std]),
                               rtol=1e-4, atol=1e-5)
    assert torch.equal(adv[4:], torch.zeros(4))  # all pass: no signal
    torch.testing.assert_close(group_advantages(torch.tensor([1.0, 0.0]), 2, scale_rewards=False),
                               torch.tensor([0.5, -0.5]))
    with pytest.raises(ValueError):
        group_advantages(torch.tensor([1.0, 0.0, 1.0]), 2)


def test_token_level_normalization_weights_every_token_equally():
    # ratio 1 everywhere (logp == old_logp): per-token loss = -A
    logp = torch.zeros(2, 4)
    mask = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.float32)
    adv = torch.tensor([1.0, -1.0])
    token = grpo_loss(logp, logp, adv, mask, loss_type="token")
    # sum of per-token losses: -1 (1 token) + 4 * (+1) = 3, over 5 tokens
    assert float(token.loss) == pytest.approx(3 / 5)
    seq = grpo_loss(logp, logp, adv, mask, loss_type="grpo")
    # per sequence mean: -1 and +1 -> mean 0
    assert float(seq.loss) == pytest.approx(0.0)
    dr = grpo_loss(logp, logp, adv, mask, loss_type="dr_grpo", max_completion_length=8)
    assert float(dr.loss) == pytest.approx(3 / (2 * 8))
    assert token.tokens == 5 and token.clip_fraction_low == token.clip_fraction_high == 0.0


def test_clip_higher_on_both_sides():
    old = torch.zeros(1, 4)
    # ratios 0.5, 0.9, 1.25, 1.5
    logp = torch.log(torch.tensor([[0.5, 0.9, 1.25, 1.5]]))
    mask = torch.ones(1, 4)
    pos = grpo_loss(logp, old, torch.tensor([2.0]), mask, epsilon=0.2, epsilon_high=0.28)
    # A > 0: min(r A, clip(r) A) with clip to [0.8, 1.28]: 0.5*2, 0.9*2, 1.25*2, 1.28*2 -> mean of negatives
    expected = -(1.0 + 1.8 + 2.5 + 2.56) / 4
    assert float(pos.loss) == pytest.approx(expected, rel=1e-5)
    assert pos.clip_fraction_high == pytest.approx(0.25) and pos.clip_fraction_low == 0.0
    neg = grpo_loss(logp, old, torch.tensor([-2.0]), mask, epsilon=0.2, epsilon_high=0.28)
    # A < 0: -min(r A, clip(r) A) = max(2r, 2 clip(r)): max(1, 1.6), 1.8, 2.5 (1.25 is inside the range), max(3, 2.56)
    expected_neg = (1.6 + 1.8 + 2.5 + 3.0) / 4
    assert float(neg.loss) == pytest.approx(expected_neg, rel=1e-5)
    assert neg.clip_fraction_low == pytest.approx(0.25) and neg.clip_fraction_high == 0.0
    # symmetric clipping (epsilon_high = epsilon) clips the 1.25 ratio too
    sym = grpo_loss(logp, old, torch.tensor([2.0]), mask, epsilon=0.2, epsilon_high=0.2)
    assert float(sym.loss) == pytest.approx(-(1.0 + 1.8 + 2.4 + 2.4) / 4, rel=1e-5)


def test_gradients_vanish_where_clipped_and_for_zero_advantage():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.0, 1.5, 0.5]])).requires_grad_(True)
    out = grpo_loss(logp, old, torch.tensor([1.0]), torch.ones(1, 3))
    out.loss.backward()
    g = logp.grad[0]
    assert g[0] != 0 and g[1] == 0 and g[2] != 0  # ratio 1.5 > 1.28 with A > 0: clipped, no gradient
    zero = torch.zeros(2, 3, requires_grad=True)
    out = grpo_loss(zero, torch.zeros(2, 3), torch.zeros(2), torch.ones(2, 3))
    out.loss.backward()
    assert float(out.loss.detach()) == 0.0 and torch.count_nonzero(zero.grad) == 0


def test_kl_term_and_its_requirement():
    logp = torch.zeros(1, 2)
    ref = torch.log(torch.tensor([[2.0, 0.5]]))
    out = grpo_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 2), beta=0.5, ref_logp=ref)
    k3 = [(2.0 - math.log(2.0) - 1), (0.5 - math.log(0.5) - 1)]
    assert float(out.loss) == pytest.approx(0.5 * sum(k3) / 2, rel=1e-5)
    assert out.kl == pytest.approx(sum(k3) / 2, rel=1e-5)
    with pytest.raises(ValueError, match="reference model"):
        grpo_loss(logp, logp, torch.tensor([0.0]), torch.ones(1, 2), beta=0.1)


def test_micro_batches_with_a_shared_normalizer_sum_to_the_full_batch_loss():
    torch.manual_seed(0)
    logp, old = torch.randn(4, 5) * 0.1, torch.randn(4, 5) * 0.1
    mask = (torch.rand(4, 5) > 0.3).float()
    adv = torch.tensor([1.0, -0.5, 0.3, -1.2])
    full = grpo_loss(logp, old, adv, mask).loss
    total = float(mask.sum())
    parts = sum(grpo_loss(logp[i:i + 2], old[i:i + 2], adv[i:i + 2], mask[i:i + 2], normalizer=total).loss
                for i in (0, 2))
    torch.testing.assert_close(parts, full)


def test_entropy_and_config_validation():
    uniform = torch.zeros(1, 2, 4)
    assert token_entropy(uniform, torch.ones(1, 2)) == pytest.approx(math.log(4), rel=1e-5)
    cfg = GRPOConfig()
    assert (cfg.beta, cfg.loss_type, cfg.epsilon, cfg.epsilon_high, cfg.updates_per_iteration) == (0.0, "token", 0.2, 0.28, 16)
    with pytest.raises(ValueError):
        GRPOConfig(batch_prompts=10, mini_batch_prompts=4)
    with pytest.raises(ValueError):
        GRPOConfig(epsilon=0.3, epsilon_high=0.2)
    with pytest.raises(ValueError):
        GRPOConfig(num_generation=4)  # a misspelt field is an error
