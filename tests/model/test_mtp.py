"""MTP expansion, freezing and draft helpers."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from mimo.model.configuration_mimo import MiMoConfig
from mimo.model.modeling_mimo import MiMoForCausalLM
from mimo.model.mtp import (
    expand_mtp_layers,
    freeze_for_mtp_expansion,
    freeze_mtp_layers,
    greedy_draft,
    mtp_draft_logits,
)

SIZES = {"vocab_size": 96, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "num_nextn_predict_layers": 1}


def make_model(seed: int = 0, **overrides) -> MiMoForCausalLM:
    torch.manual_seed(seed)
    return MiMoForCausalLM(MiMoConfig(**{**SIZES, **overrides})).eval()


def ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, SIZES["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


def test_expand_copies_layer_zero():
    model = expand_mtp_layers(make_model(), 3)
    assert model.config.num_nextn_predict_layers == 3 and len(model.model.mtp_layers) == 3
    first = model.model.mtp_layers[0].state_dict()
    for k in (1, 2):
        layer = model.model.mtp_layers[k]
        assert layer.self_attn.layer_idx == model.config.num_hidden_layers + k
        for name, value in layer.state_dict().items():
            assert torch.equal(value, first[name]) and value.data_ptr() != first[name].data_ptr(), name
    with torch.no_grad():
        model.model.mtp_layers[1].input_proj.weight.add_(1.0)  # copies are independent
    assert torch.equal(model.model.mtp_layers[0].input_proj.weight, first["input_proj.weight"])
    x = ids(2, 10)
    with torch.no_grad():
        out = model(x, labels=x)
    assert len(out.mtp_losses) == 3
    torch.testing.assert_close(out.mtp_loss, torch.stack(out.mtp_losses).mean())
    with pytest.raises(ValueError):
        expand_mtp_layers(model, 2)
    with pytest.raises(ValueError):
        expand_mtp_layers(make_model(num_nextn_predict_layers=0), 2)


def test_freeze_trains_only_the_new_layers():
    model = expand_mtp_layers(make_model(), 3).train()
    trainable = freeze_for_mtp_expansion(model)
    assert trainable and all(n.startswith(("model.mtp_layers.1.", "model.mtp_layers.2.")) for n in trainable)
    assert len(trainable) == 2 * len(list(model.model.mtp_layers[0].parameters()))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x = ids(2, 12)
    for _ in range(2):
        optimizer.zero_grad()
        model(x, labels=x).loss.backward()
        optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(trainable)
    assert any(n.startswith("model.mtp_layers.1.") for n in changed)
    assert any(n.startswith("model.mtp_layers.2.") for n in changed)
    freeze_mtp_layers(model)
    assert not any(p.requires_grad for p in model.parameters())


def test_expanded_model_round_trips(tmp_path):
    model = expand_mtp_layers(make_model(), 3)
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.num_nextn_predict_layers == 3
    assert "model.mtp_layers.2.input_proj.weight" in loaded.state_dict()
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


@pytest.mark.parametrize("source", ["previous", "main"])
def test_draft_logits_match_forward(source):
    model = expand_mtp_layers(make_model(mtp_hidden_source=source), 2)
    with torch.no_grad():
        model.model.mtp_layers[1].input_proj.weight.mul_(1.5)  # make the two layers differ
    x, t = ids(2, 9), 9
    filler = torch.zeros(2, 2, dtype=torch.long)
    with torch.no_grad():
        out = model(x, output_mtp_logits=True)
        d0 = mtp_draft_logits(model, out.pre_norm_hidden_state, torch.cat([x[:, 1:], filler[:, :1]], 1), layer=0)
        h1 = d0.hidden_states if source == "previous" else out.pre_norm_hidden_state
        d1 = mtp_draft_logits(model, h1, torch.cat([x[:, 2:], filler], 1), layer=1)
    torch.testing.assert_close(d0.logits[:, : t - 1], out.mtp_logits[0][:, : t - 1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(d1.logits[:, : t - 2], out.mtp_logits[1][:, : t - 2], rtol=1e-5, atol=1e-5)


def test_greedy_draft_agrees_with_forward_on_the_extended_sequence():
    model = expand_mtp_layers(make_model(), 2)
    with torch.no_grad():
        model.model.mtp_layers[1].mlp.up_proj.weight.mul_(-1.0)
    x = ids(1, 7)
    tokens = greedy_draft(model, x)
    assert tokens.shape == (1, 3)
    with torch.no_grad():
        t1 = model(x).logits[:, -1].argmax(-1)
        ext1 = model(torch.cat([x, t1[:, None]], 1), output_mtp_logits=True)
        d1 = ext1.mtp_logits[0][:, 6].argmax(-1)  # position 6 fuses h_6 and x_7 = t1 -> predicts x_8
        ext2 = model(torch.cat([x, t1[:, None], d1[:, None]], 1), output_mtp_logits=True)
        d2 = ext2.mtp_logits[1][:, 6].argmax(-1)  # chain: layer 1 at 6 also sees x_8 = d1 -> x_9
    assert tokens.tolist() == [[t1.item(), d1.item(), d2.item()]]
    assert greedy_draft(model, x[:, :1], num_draft=2).shape == (1, 3)  # prompt shorter than the chain


def test_config_validation():
    with pytest.raises(ValueError):
        MiMoConfig(**{**SIZES, "mtp_hidden_source": "sideways"})
    with pytest.raises(ValueError):
        MiMoConfig(**{**SIZES, "num_nextn_predict_layers": -1})
