"""MTP speculative decoding: exact under greedy, distribution-preserving under sampling, sane counters."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
import torch

from mimo.generate.spec_sampling import verify_drafts, warp_probs
from mimo.generate.speculative import (
    SpecStats,
    measure_speculative,
    plain_generate,
    speculative_generate,
)
from mimo.model.mtp import greedy_draft
from tests.generate.spec_helpers import (
    chi_square_ok,
    copy_draft_model,
    tiny_mimo,
    total_variation,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _prompts(vocab: int, lengths=(1, 2, 5, 13), seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in lengths]


def _full_greedy(model, prompt: list[int], n: int) -> list[int]:
    """Greedy decoding by definition: argmax of a full forward (no cache) per new token."""
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].argmax()))
    return ids[len(prompt):]


@pytest.fixture(scope="module")
def random_model():
    return tiny_mimo(vocab=64, mtp_layers=3, seed=1)


@pytest.mark.parametrize("kind", ["random-previous", "random-main", "partly-agreeing"])
def test_greedy_speculative_equals_plain_greedy(kind):
    if kind == "partly-agreeing":
        model = copy_draft_model(vocab=64, attention=1.0, input_noise=0.5, seed=3)
    else:
        model = tiny_mimo(vocab=64, mtp_layers=3, seed=2, hidden_source=kind.split("-")[1])
    for prompt in _prompts(64):
        plain = plain_generate(model, prompt, 20)
        assert len(plain.tokens) == 20
        for k in (1, 2, 3):
            spec = speculative_generate(model, prompt, 20, k)
            assert spec.tokens == plain.tokens, (kind, k, prompt)
            assert spec.finish_reason == "length"
    # the reference itself is greedy decoding (argmax of full forwards, no cache)
    prompt = _prompts(64)[2]
    assert plain_generate(model, prompt, 8).tokens == _full_greedy(model, prompt, 8)


def test_drafts_are_the_mtp_chain_at_every_step():
    """With the MTP KV caches, each step's drafts equal ``greedy_draft`` recomputed over the whole
    committed prefix, also after steps that accepted several drafts."""
    model = copy_draft_model(vocab=48, attention=1.0, input_noise=0.5, seed=0)
    jumps = 0
    for prompt in _prompts(48, lengths=(1, 7)):
        for k in (2, 3):
            out = speculative_generate(model, prompt, 30, k, trace=True)
            seq = prompt + out.tokens
            for step in out.trace:
                pos = step["position"]
                want = greedy_draft(model, torch.tensor([seq[:pos]]), num_draft=len(step["drafts"]))[0].tolist()
                assert want[0] == seq[pos]
                assert want[1:] == step["drafts"], (prompt, k, step)
                jumps += step["accepted"] >= 1
    assert jumps >= 5  # the cache was exercised across multi-token advances


@pytest.mark.parametrize("k", [1, 2, 3])
def test_draft_that_copies_the_target_is_always_accepted(k):
    model = copy_draft_model(vocab=48, mtp_layers=3, attention=0.0)
    prompt = [3, 17, 5]
    out = speculative_generate(model, prompt, 41, k)
    assert out.tokens == plain_generate(model, prompt, 41).tokens
    stats = out.stats.as_dict()
    assert stats["acceptance_per_layer"] == [1.0] * k
    assert stats["conditional_acceptance_per_layer"] == [1.0] * k
    # 41 tokens = 1 + steps * (1 + k) up to the budget: full steps commit 1 + k tokens
    assert out.stats.steps == -(-40 // (k + 1))
    sampled = speculative_generate(model, prompt, 41, k, temperature=1.0,
                                   generator=torch.Generator().manual_seed(0))
    assert min(sampled.stats.as_dict()["acceptance_per_layer"]) >= 0.99


def test_random_drafts_are_mostly_rejected_but_output_is_unchanged(random_model):
    out = speculative_generate(random_model, [1, 2, 3], 40, 3)
    stats = out.stats.as_dict()
    assert stats["acceptance_per_layer"][0] < 0.5
    assert stats["proposed"][0] >= out.stats.steps - 1  # the last step may have no budget to draft
    assert out.tokens == plain_generate(random_model, [1, 2, 3], 40).tokens


def test_stats_count_only_what_was_proposed():
    s = SpecStats(3)
    s.record(3, 0)
    s.record(3, 2)
    s.record(2, 2)  # budget allowed only 2 drafts
    s.record(1, 0)
    d = s.as_dict()
    assert d["proposed"] == [4, 3, 2] and d["accepted"] == [2, 2, 0] and d["reached"] == [4, 2, 1]
    assert d["acceptance_per_layer"] == [0.5, 0.6667, 0.0]
    assert d["conditional_acceptance_per_layer"] == [0.5, 1.0, 0.0]
    assert d["mean_accepted_per_step"] == 1.0 and d["tokens_per_step"] == 2.0
    assert SpecStats(2).as_dict()["acceptance_per_layer"] == [None, None]


@pytest.mark.parametrize(("max_new", "steps", "proposed"),
                         [(1, 0, [0, 0, 0]), (2, 1, [0, 0, 0]), (3, 1, [1, 0, 0]), (7, 2, [2, 1, 1])])
def test_max_tokens_is_exact_and_limits_the_drafts(max_new, steps, proposed):
    """Drafts never outrun the budget: after the step's first token, at most budget - 1 drafts
    (their bonus token fills the budget); the copy model accepts all of them."""
    model = copy_draft_model(vocab=48, attention=0.0)
    out = speculative_generate(model, [4, 9], max_new, 3)
    assert len(out.tokens) == max_new and out.finish_reason == "length"
    assert out.tokens == plain_generate(model, [4, 9], max_new).tokens
    assert out.stats.steps == steps and out.stats.proposed == proposed
    assert out.stats.accepted == proposed


def test_eos_and_stop_end_decoding_like_plain_decoding(random_model):
    prompt = [5, 6, 7]
    plain = plain_generate(random_model, prompt, 30).tokens
    eos = plain[6]
    cut = plain.index(eos) + 1
    for k in (1, 3):
        out = speculative_generate(random_model, prompt, 30, k, eos_token_ids={eos})
        assert out.tokens == plain[:cut] and out.finish_reason == "eos"
        stop = speculative_generate(random_model, prompt, 30, k, stop_fn=lambda ids: len(ids) >= 4 and ids[-1] == eos)
        assert stop.finish_reason in ("stop", "length")
        assert stop.tokens == plain_generate(random_model, prompt, 30,
                                             stop_fn=lambda ids: len(ids) >= 4 and ids[-1] == eos).tokens
    # EOS inside a run of accepted drafts (copy model: everything is accepted)
    copy = copy_draft_model(vocab=48, attention=0.0)
    ref = plain_generate(copy, [1], 20).tokens
    out = speculative_generate(copy, [1], 20, 3, eos_token_ids={ref[5]})
    assert out.tokens == ref[:ref.index(ref[5]) + 1] and out.finish_reason == "eos"


def test_argument_checks(random_model):
    with pytest.raises(ValueError, match="num_speculative"):
        speculative_generate(random_model, [1], 5, 4)
    with pytest.raises(ValueError, match="num_speculative"):
        speculative_generate(random_model, [1], 5, 0)
    with pytest.raises(ValueError, match="at least one token"):
        speculative_generate(random_model, [], 5, 1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        speculative_generate(random_model, [1], 0, 1)


# ---------------------------------------------------------------------------- sampling
def _tables(v: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    def dist(*shape):
        return torch.softmax(2.0 * torch.randn(*shape, v, generator=g, dtype=torch.float64), -1)
    return {"p1": dist(), "p2": dist(v), "p3": dist(v, v), "q1": dist(), "q2": dist(v)}


@pytest.mark.parametrize("draft", ["sample", "greedy"])
def test_acceptance_step_preserves_the_target_distribution(draft):
    """Two drafts through ``verify_drafts``; the first two emitted tokens must follow the target
    p1(x1) p2(x2|x1) (topped up from the target when fewer were emitted), not the draft's q."""
    v, n = 4, 5000
    t = _tables(v, seed=0)
    g = torch.Generator().manual_seed(1)
    counts: Counter = Counter()
    for _ in range(n):
        if draft == "sample":
            d1 = int(torch.multinomial(t["q1"], 1, generator=g))
            d2 = int(torch.multinomial(t["q2"][d1], 1, generator=g))
            q = [t["q1"], t["q2"][d1]]
        else:
            d1, q = int(t["q1"].argmax()), [None, None]
            d2 = int(t["q2"][d1].argmax())
        logits = torch.stack([t["p1"], t["p2"][d1], t["p3"][d1, d2]]).log()
        accepted, nxt = verify_drafts(logits, [d1, d2], q, 1.0, 1.0, g)
        emitted = [d1, d2][:accepted] + [nxt]
        if len(emitted) == 1:
            emitted.append(int(torch.multinomial(t["p2"][emitted[0]], 1, generator=g)))
        counts[tuple(emitted[:2])] += 1
    target = {(a, b): float(t["p1"][a] * t["p2"][a, b]) for a, b in itertools.product(range(v), repeat=2)}
    ok, stat, crit = chi_square_ok(counts, target)
    assert ok, (stat, crit)
    if draft == "sample":  # the test has power: the same counts reject the draft's own distribution
        q_dist = {(a, b): float(t["q1"][a] * t["q2"][a, b]) for a, b in itertools.product(range(v), repeat=2)}
        assert total_variation(q_dist, target) > 0.2
        assert not chi_square_ok(counts, q_dist)[0]


def test_top_p_is_applied_to_target_and_draft():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]] * 2)
    p = warp_probs(logits[0], 1.0, 0.7)
    assert p[2] == 0 and p[3] == 0 and abs(float(p.sum()) - 1) < 1e-12
    # a draft outside the target's nucleus is always rejected and never re-drawn
    g = torch.Generator().manual_seed(0)
    q = warp_probs(torch.tensor([-1.0, 0.0, 1.0, 2.0]), 1.0, 1.0)
    for _ in range(50):
        accepted, nxt = verify_drafts(logits, [3], [q], 1.0, 0.7, g)
        assert accepted == 0 and nxt in (0, 1)


def _exact_two_token_distribution(model, prompt, temperature, top_p):
    v = model.config.vocab_size
    with torch.no_grad():
        p1 = warp_probs(model(input_ids=torch.tensor([prompt])).logits[0, -1], temperature, top_p)
        seqs = torch.tensor([prompt + [a] for a in range(v)])
        out = model(input_ids=seqs, output_mtp_logits=True)
        p2 = warp_probs(out.logits[:, -1], temperature, top_p)
        q2 = warp_probs(out.mtp_logits[0][:, -2], temperature, top_p)  # MTP layer 0 at the prompt's end
    target = {(a, b): float(p1[a] * p2[a, b]) for a in range(v) for b in range(v)}
    draft_only = {(a, b): float(p1[a] * q2[a, b]) for a in range(v) for b in range(v)}
    return target, draft_only


def test_speculative_sampling_matches_plain_sampling_end_to_end():
    """First two tokens of a vocab-4 model at temperature 0.8 / top-p 0.9: speculative sampling
    (the second token is a verified draft) follows the exact target distribution; drafts alone
    would not."""
    model = tiny_mimo(vocab=4, mtp_layers=1, sharpen=12.0, seed=4)
    prompt = [1, 3, 0]
    target, draft_only = _exact_two_token_distribution(model, prompt, 0.8, 0.9)
    assert total_variation(target, draft_only) > 0.2
    g = torch.Generator().manual_seed(0)
    counts, rejected, n = Counter(), 0, 1000
    for _ in range(n):
        out = speculative_generate(model, prompt, 3, 1, temperature=0.8, top_p=0.9, generator=g)
        assert out.stats.proposed[0] == 1
        counts[tuple(out.tokens[:2])] += 1
        rejected += out.stats.accepted[0] == 0
    assert 0.1 * n < rejected < 0.9 * n  # both branches of the acceptance rule ran
    ok, stat, crit = chi_square_ok(counts, target)
    assert ok, (stat, crit)
    assert not chi_square_ok(counts, draft_only)[0]


# ---------------------------------------------------------------------------- measurement
def test_measure_speculative_reports_acceptance_speed_and_identity():
    model = copy_draft_model(vocab=48, attention=0.0)
    res = measure_speculative(model, _prompts(48, lengths=(3, 6)), 16, (1, 3), warmup=False)
    assert res["prompts"] == 2 and res["plain"]["tokens"] == 32
    for k in ("1", "3"):
        r = res["speculative"][k]
        assert r["identical"] is True and r["tokens"] == 32
        assert r["acceptance_per_layer"] == [1.0] * int(k)
        assert r["decode_tokens_per_s"] > 0 and r["speedup"] > 0
    assert res["speculative"]["3"]["tokens_per_step"] > res["speculative"]["1"]["tokens_per_step"]
    sampled = measure_speculative(tiny_mimo(vocab=64, mtp_layers=2), _prompts(64, lengths=(4,)), 8, 2,
                                  temperature=0.7, top_p=0.9, warmup=False)
    assert sampled["speculative"]["2"]["identical"] is None and sampled["speculative"]["2"]["tokens"] == 8
