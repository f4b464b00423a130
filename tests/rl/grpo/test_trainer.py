"""The GRPO update on a real tiny MiMo model: on-policy first update (ratio 1), MTP frozen, masked
samples counted and excluded, zero-advantage groups leave the weights unchanged, and rewarded
completions become more likely."""

import pytest
import torch

from mimo.model.presets import create_model
from mimo.rl.grpo.config import GRPOConfig
from mimo.rl.grpo.trainer import (
    GRPOTrainer,
    RolloutGroup,
    _pad,
    flatten_groups,
    token_logps,
)

SMALL = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
             num_key_value_heads=1, head_dim=16)


def _model(seed=0):
    return create_model("tiny", stage=1, seed=seed, **SMALL)


def _cfg(**kw):
    base = dict(num_generations=4, batch_prompts=2, mini_batch_prompts=1, micro_batch_samples=3,
                learning_rate=5e-3, max_completion_length=8)
    return GRPOConfig(**{**base, **kw})


def _groups():
    good, bad = [10, 11, 12], [20, 21]
    return [RolloutGroup("p0", [1, 2, 3], [good, bad, good, bad], [1.0, 0.0, 1.0, 0.0]),
            RolloutGroup("p1", [4, 5], [good, bad, bad, bad], [1.0, 0.0, 0.0, 0.0])]


def _seq_logp(model, prompt, completion):
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        lp, _ = token_logps(model.eval(), ids, torch.ones_like(ids))
    return float(lp[0, len(prompt):].sum())


def test_first_update_is_on_policy_and_mtp_is_frozen():
    model = _model()
    mtp_before = {k: v.clone() for k, v in model.state_dict().items() if "mtp_layers" in k}
    body_before = model.model.layers[0].mlp.up_proj.weight.clone()
    trainer = GRPOTrainer(model, _cfg(batch_prompts=2, mini_batch_prompts=2), pad_id=0)
    m = trainer.step(_groups())
    assert m["mean_ratio"] == pytest.approx(1.0, abs=1e-6) and m["clip_fraction_low"] == m["clip_fraction_high"] == 0
    assert m["updates"] == 1 and m["samples"] == 8 and m["masked_samples"] == 0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in mtp_before.items())
    assert not torch.equal(body_before, model.model.layers[0].mlp.up_proj.weight)


def test_rewarded_completions_become_more_likely():
    model = _model(1)
    good_before = _seq_logp(model, [1, 2, 3], [10, 11, 12])
    bad_before = _seq_logp(model, [1, 2, 3], [20, 21])
    trainer = GRPOTrainer(model, _cfg(), pad_id=0)
    for _ in range(5):
        m = trainer.step(_groups())
    assert m["updates"] == 2  # batch 2 prompts / mini-batch 1
    assert _seq_logp(model, [1, 2, 3], [10, 11, 12]) > good_before + 0.5
    assert _seq_logp(model, [1, 2, 3], [20, 21]) < bad_before


def test_zero_advantage_groups_change_nothing():
    model = _model(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    groups = [RolloutGroup("p", [1, 2], [[5, 6], [7], [8, 9]], [1.0, 1.0, 1.0])]
    m = GRPOTrainer(model, _cfg(batch_prompts=1, mini_batch_prompts=1), pad_id=0).step(groups)
    assert m["loss"] == 0.0 and m["grad_norm"] == 0.0
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())


def test_masked_samples_are_counted_and_excluded():
    # no reward, empty, and overlong (9 > max_completion_length 8) samples are masked and counted
    groups = [RolloutGroup("p", [1], [[5], [6], [7], [], [9] * 9], [1.0, None, 0.0, 1.0, 1.0])]
    samples, masked = flatten_groups(groups, _cfg())
    assert masked == 3 and [s.ids for s in samples] == [[1, 5], [1, 7]]
    assert [round(s.advantage, 4) for s in samples] == [1.0, -1.0]  # over the two scored samples
    with pytest.raises(ValueError, match="no trainable sample"):
        GRPOTrainer(_model(), _cfg(), pad_id=0).step([RolloutGroup("q", [1], [[5], [6]], [None, None])])


def test_padding_does_not_change_log_probs():
    model = _model(3).eval()
    groups = [RolloutGroup("p", [1, 2], [[5, 6, 7, 8, 9], [5]], [1.0, 0.0])]
    samples, _ = flatten_groups(groups, _cfg())
    ids, attn, comp = _pad(samples, pad_id=0)
    with torch.no_grad():
        lp, _ = token_logps(model, ids, attn)
        alone, _ = token_logps(model, ids[1:, :3], attn[1:, :3])
    torch.testing.assert_close(lp[1, :3], alone[0], rtol=1e-5, atol=1e-6)
    assert comp.sum().item() == 6


def test_non_finite_loss_stops_before_the_update():
    model = _model(4)
    with torch.no_grad():
        model.model.layers[0].mlp.up_proj.weight[0, 0] = float("nan")
    before = model.model.layers[1].mlp.up_proj.weight.clone()
    with pytest.raises(FloatingPointError, match="non-finite GRPO loss"):
        GRPOTrainer(model, _cfg(), pad_id=0).step(_groups())
    assert torch.equal(before, model.model.layers[1].mlp.up_proj.weight)  # nothing was updated
