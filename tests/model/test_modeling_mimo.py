"""MiMoConfig / MiMoForCausalLM: released layout, HF round trips, Qwen2 body, MTP loss, packing, presets."""

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file
from torch.nn import functional as F
from transformers import AutoConfig, AutoModelForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.models.qwen2.modeling_qwen2 import Qwen2DecoderLayer

from mimo.model.configuration_mimo import MiMoConfig
from mimo.model.modeling_mimo import (
    MiMoForCausalLM,
    packed_causal_mask,
    shifted_targets,
)
from mimo.model.presets import MIMO_7B, TINY, create_model, get_preset
from mimo.model.tokenizer import train_tokenizer

SIZES = {"vocab_size": 96, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
         "num_nextn_predict_layers": 1}


def make_model(seed: int = 0, **overrides) -> MiMoForCausalLM:
    torch.manual_seed(seed)
    return MiMoForCausalLM(MiMoConfig(**{**SIZES, **overrides})).eval()


@pytest.fixture(scope="module")
def model() -> MiMoForCausalLM:
    return make_model()


def ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, SIZES["vocab_size"], (batch, length), generator=torch.Generator().manual_seed(seed))


# --- released layout and Hugging Face round trips ----------------------------------------------

def _block(prefix: str) -> list[str]:
    return [f"{prefix}.self_attn.{p}_proj.{w}" for p in "qkv" for w in ("weight", "bias")] + [
        f"{prefix}.self_attn.o_proj.weight", *(f"{prefix}.mlp.{p}_proj.weight" for p in ("gate", "up", "down")),
        f"{prefix}.input_layernorm.weight", f"{prefix}.post_attention_layernorm.weight"]


EXPECTED_KEYS = sorted(
    ["model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"]
    + _block("model.layers.0") + _block("model.layers.1") + _block("model.mtp_layers.0")
    + [f"model.mtp_layers.0.{n}.weight"
       for n in ("token_layernorm", "hidden_layernorm", "input_proj", "final_layernorm")])


def test_state_dict_keys_match_released_layout(model):
    assert sorted(model.state_dict()) == EXPECTED_KEYS
    assert model.model.mtp_layers[0].input_proj.weight.shape == (64, 128)  # Linear(2d -> d), no bias
    assert model.model.mtp_layers[0].input_proj.bias is None


def test_released_style_checkpoint_loads(tmp_path, model):
    """A config.json as released (legacy keys, auto_map, bf16) plus released-style weight names."""
    released = {
        "architectures": ["MiMoForCausalLM"], "tokenizer_class": ["Qwen2Tokenizer"],
        "auto_map": {"AutoConfig": "configuration_mimo.MiMoConfig", "AutoModel": "modeling_mimo.MiMoModel",
                     "AutoModelForCausalLM": "modeling_mimo.MiMoForCausalLM"},
        "attention_dropout": 0.0, "hidden_act": "silu", "initializer_range": 0.02, "max_window_layers": 2,
        "model_type": "mimo", "head_dim": 16, "rms_norm_eps": 1e-05, "rope_theta": 640000,
        "sliding_window": 128, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.40.1", "use_cache": True, "use_mrope": False, "use_sliding_window": False,
        "attention_bias": True, **SIZES}
    (tmp_path / "config.json").write_text(json.dumps(released))
    weights = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    loaded, info = AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(loaded, MiMoForCausalLM)
    assert not (info["missing_keys"] or info["unexpected_keys"] or info["mismatched_keys"])
    assert loaded.config.rope_parameters["rope_theta"] == 640000
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, weights[k]), k


def test_save_from_pretrained_round_trip(tmp_path, model):
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "mimo" and config["architectures"] == ["MiMoForCausalLM"]
    assert config["auto_map"]["AutoModelForCausalLM"] == "modeling_mimo.MiMoForCausalLM"
    assert (tmp_path / "modeling_mimo.py").exists() and (tmp_path / "configuration_mimo.py").exists()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), MiMoConfig)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, MiMoForCausalLM) and loaded.config.num_nextn_predict_layers == 1
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    x = ids(2, 9)
    with torch.no_grad():
        a, b = model(x, labels=x), loaded(x, labels=x)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=0)
    torch.testing.assert_close(a.loss, b.loss, rtol=0, atol=0)


def test_checkpoint_loads_as_remote_code_without_the_package(tmp_path, model):
    """Elsewhere (no ``mimo`` package imported), the copied code loads the checkpoint."""
    model.save_pretrained(tmp_path)
    script = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM\n"
        "m = AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)\n"
        "assert not any(k == 'mimo' or k.startswith('mimo.') for k in sys.modules)\n"
        "x = torch.arange(8)[None]\n"
        "print(type(m).__name__, type(m).__module__.startswith('transformers_modules'),"
        " round(m(x, labels=x).loss.item(), 5))\n")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    x = torch.arange(8)[None]
    with torch.no_grad():
        expected = round(model(x, labels=x).loss.item(), 5)
    assert run.stdout.split() == ["MiMoForCausalLM", "True", str(expected)]


# --- the body is Qwen2; generation -------------------------------------------------------------

def test_main_model_is_exactly_qwen2(model):
    qwen_config = Qwen2Config(**{k: v for k, v in SIZES.items() if k != "num_nextn_predict_layers"},
                              rms_norm_eps=model.config.rms_norm_eps, tie_word_embeddings=False)
    qwen = Qwen2ForCausalLM(qwen_config).eval()
    body = {k: v for k, v in model.state_dict().items() if ".mtp_layers." not in k}
    qwen.load_state_dict(body, strict=True)
    x = ids(2, 11)
    with torch.no_grad():
        ours, ref = model(x, labels=x, mtp_loss_weight=0.0), qwen(x, labels=x)
    torch.testing.assert_close(ours.logits, ref.logits, rtol=0, atol=0)
    torch.testing.assert_close(ours.main_loss, ref.loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ours.loss, ref.loss, rtol=1e-6, atol=1e-6)


def _count_mtp_calls(model):
    calls = []
    handles = [layer.register_forward_hook(lambda *_: calls.append(1)) for layer in model.model.mtp_layers]
    return calls, handles


def test_generate_equals_manual_greedy_and_skips_mtp(model):
    prompt = ids(1, 5)
    calls, handles = _count_mtp_calls(model)
    try:
        with torch.no_grad():
            generated = model.generate(prompt, max_new_tokens=8, do_sample=False, eos_token_id=None,
                                       pad_token_id=0)
        assert calls == []  # MTP layers never run in plain generation
        seq = prompt
        with torch.no_grad():
            for _ in range(8):
                nxt = model(seq).logits[:, -1].argmax(-1, keepdim=True)
                seq = torch.cat([seq, nxt], dim=1)
        assert calls == []
        assert torch.equal(generated, seq)
        with torch.no_grad():
            model(prompt, labels=prompt)
        assert calls == [1]
    finally:
        for h in handles:
            h.remove()


# --- MTP loss ----------------------------------------------------------------------------------

def test_mtp_loss_equals_hand_computed_ce(model):
    x = ids(2, 10)
    labels = x.clone()
    labels[0, 4] = -100
    labels[1, 8:] = -100
    with torch.no_grad():
        out = model(x, labels=labels, mtp_loss_weight=0.25, output_mtp_logits=True)
        # the MTP layer by hand: e = tn(E(x[i+1])), h = hn(h_i), block(input_proj([h, e])), fn, head
        layer, t = model.model.mtp_layers[0], x.shape[1] - 1
        e = layer.token_layernorm(model.model.embed_tokens(x[:, 1:]))
        h = layer.hidden_layernorm(out.pre_norm_hidden_state[:, :t])
        z = layer.input_proj(torch.cat([h, e], dim=-1))
        pos = torch.arange(t)[None]
        z = Qwen2DecoderLayer.forward(layer, z, attention_mask=None, position_ids=pos,
                                      position_embeddings=model.model.rotary_emb(z, pos))
        manual_logits = model.lm_head(layer.final_layernorm(z))
    torch.testing.assert_close(out.mtp_logits[0][:, :t], manual_logits, rtol=1e-5, atol=1e-5)
    # CE over pairs (i, i+2) whose target is not -100
    terms = [F.cross_entropy(manual_logits[b, i], labels[b, i + 2])
             for b in range(2) for i in range(x.shape[1] - 2) if labels[b, i + 2] != -100]
    expected_mtp = torch.stack(terms).mean()
    torch.testing.assert_close(out.mtp_losses[0], expected_mtp, rtol=1e-5, atol=1e-6)
    main_terms = [F.cross_entropy(out.logits[b, i], labels[b, i + 1])
                  for b in range(2) for i in range(x.shape[1] - 1) if labels[b, i + 1] != -100]
    torch.testing.assert_close(out.main_loss, torch.stack(main_terms).mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.loss, out.main_loss + 0.25 * expected_mtp, rtol=1e-5, atol=1e-6)


def test_loss_weight_from_config_and_zero_skips_mtp(model):
    x = ids(1, 8)
    with torch.no_grad():
        default = model(x, labels=x)
        torch.testing.assert_close(default.loss, default.main_loss + 0.3 * default.mtp_loss)
        calls, handles = _count_mtp_calls(model)
        try:
            off = model(x, labels=x, mtp_loss_weight=0.0)
        finally:
            for h in handles:
                h.remove()
    assert calls == [] and off.mtp_losses is None
    torch.testing.assert_close(off.loss, default.main_loss)


def test_gradients_reach_mtp_layers_and_body():
    model = make_model().train()
    x = ids(2, 12)
    out = model(x, labels=x)
    out.mtp_loss.backward()  # MTP loss alone: reaches the MTP layer, the body and the shared head
    layer = model.model.mtp_layers[0]
    for name in ("input_proj", "token_layernorm", "hidden_layernorm", "final_layernorm",
                 "mlp.down_proj", "self_attn.q_proj", "self_attn.v_proj"):
        grad = layer.get_submodule(name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name
    assert model.model.layers[-1].mlp.down_proj.weight.grad.abs().sum() > 0
    assert model.lm_head.weight.grad.abs().sum() > 0
    assert model.model.norm.weight.grad is None  # the MTP path starts before the final norm


# --- packed sequences --------------------------------------------------------------------------

def _packed(lengths: list[int]):
    docs = [ids(1, n, seed=10 + i) for i, n in enumerate(lengths)]
    x = torch.cat(docs, dim=1)
    pos = torch.cat([torch.arange(n) for n in lengths])[None]
    return docs, x, pos


@pytest.mark.parametrize("use_4d_mask", [False, True])
def test_packed_documents_match_separate_runs(model, use_4d_mask):
    docs, x, pos = _packed([5, 7, 4])
    mask = packed_causal_mask(pos) if use_4d_mask else None
    with torch.no_grad():
        packed = model(x, position_ids=pos, attention_mask=mask, labels=x, output_mtp_logits=True)
        eval_packed = model(x, position_ids=pos, attention_mask=mask)  # default use_cache=True path
        start, main_sum, main_n, mtp_sum, mtp_n = 0, 0.0, 0, 0.0, 0
        for doc in docs:
            n = doc.shape[1]
            alone = model(doc, labels=doc, output_mtp_logits=True)
            torch.testing.assert_close(packed.logits[:, start:start + n], alone.logits, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(eval_packed.logits[:, start:start + n], alone.logits,
                                       rtol=1e-5, atol=1e-5)
            # MTP logits agree wherever the MTP target (i + 2) is in the same document
            torch.testing.assert_close(packed.mtp_logits[0][:, start:start + n - 2],
                                       alone.mtp_logits[0][:, : n - 2], rtol=1e-5, atol=1e-5)
            main_sum, main_n = main_sum + alone.main_loss * (n - 1), main_n + n - 1
            mtp_sum, mtp_n = mtp_sum + alone.mtp_losses[0] * (n - 2), mtp_n + n - 2
            start += n
    # losses never cross a document boundary: packed loss = token-weighted mean of separate losses
    torch.testing.assert_close(packed.main_loss, main_sum / main_n, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(packed.mtp_losses[0], mtp_sum / mtp_n, rtol=1e-5, atol=1e-6)


def test_shifted_targets_respect_documents_and_ignore_index():
    labels = torch.tensor([[10, 11, 12, -100, 14, 20, 21, 22]])
    pos = torch.tensor([[0, 1, 2, 3, 4, 0, 1, 2]])
    assert shifted_targets(labels, 1, pos).tolist() == [[11, 12, -100, 14, -100, 21, 22, -100]]
    assert shifted_targets(labels, 2, pos).tolist() == [[12, -100, 14, -100, -100, 22, -100, -100]]
    assert shifted_targets(labels, 9, pos).tolist() == [[-100] * 8]


# --- presets -----------------------------------------------------------------------------------

def test_presets():
    tiny = create_model("tiny", vocab_size=512)
    n = sum(p.numel() for p in tiny.parameters())
    assert n == TINY.num_parameters(vocab_size=512) and 1_000_000 < n < 10_000_000
    assert next(tiny.parameters()).dtype == torch.float32 and tiny.config.num_nextn_predict_layers == 1
    assert get_preset("tiny").to_config(1).rope_parameters["rope_theta"] == 10_000
    assert get_preset("tiny").to_config(3).rope_parameters["rope_theta"] == 640_000
    c = MIMO_7B.to_config(stage=3)
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.intermediate_size) == (151680, 4096, 36, 11008)
    assert (c.num_attention_heads, c.num_key_value_heads, c.head_dim) == (32, 8, 128)
    assert (c.rms_norm_eps, c.tie_word_embeddings, c.max_position_embeddings) == (1e-5, False, 32768)
    assert c.rope_parameters["rope_theta"] == 640_000 and c.dtype == torch.bfloat16
    assert MIMO_7B.to_config(stage=1).rope_parameters["rope_theta"] == 10_000
    assert round(MIMO_7B.num_parameters() / 1e9, 2) == 7.83  # 7.62B body + 0.21B MTP, as released
    assert MIMO_7B.padded_vocab(151_665) == 151_680
    tokenizer = train_tokenizer(["def f(x): return x + 1", "2 + 2 = 4"] * 20, vocab_size=300)
    from_tok = TINY.to_config(1, tokenizer=tokenizer)
    assert from_tok.vocab_size == len(tokenizer)
    assert (from_tok.eos_token_id, from_tok.pad_token_id) == (tokenizer.eos_token_id, tokenizer.pad_token_id)
    with pytest.raises(ValueError):
        get_preset("huge")
