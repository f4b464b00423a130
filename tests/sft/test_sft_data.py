"""SFT data: selection counts every removal; the assistant-only mask follows the chat template; packing
keeps samples whole, resets positions, pads without targets; the SFT loss of a packed row equals the
token-weighted loss of each conversation alone over its assistant tokens (no cross-sample leakage)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mimo.data.decontam import ContaminationIndex
from mimo.data.packing import PackedDataset
from mimo.model.presets import create_model
from mimo.model.tokenizer import train_tokenizer
from mimo.sft.packing import pack_sft, tokenize_conversation
from mimo.sft.select import mixed_script_share, select_samples

CORPUS = ["Sam has 12 apples. He gives 3 to Ann. How many are left?", "Step 1: 12 - 3 = 9.\nThe answer is \\boxed{9}.",
          "def solve():\n    print(int(input()) * 2)\n", "You are a careful reasoner."] * 40


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(CORPUS, vocab_size=400, min_frequency=2)


def _conv(user: str, answer: str, system: str = "You are a careful reasoner.") -> list[dict]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user},
            {"role": "assistant", "content": answer}]


def _row(i: int, user: str, answer: str, **kw) -> dict:
    row = {"id": f"s{i}", "strategy": "problem_solution", "messages": _conv(user, answer), "response": answer,
           "finish_reason": "stop", "verification": "correct", "domain": "math"}
    row.update(kw)
    return row


def test_mask_covers_exactly_the_assistant_turn(tok):
    conv = _conv("How many are left?", "Step 1: 12 - 3 = 9.\nThe answer is \\boxed{9}.")
    ids, mask = tokenize_conversation(conv, tok)
    full = tok.apply_chat_template(conv, tokenize=False)
    assert tok.decode(ids) == full  # the pieces add up to the template's rendering
    target = [i for i, m in zip(ids, mask) if m]
    assert tok.decode(target) == conv[-1]["content"] + "<|im_end|>"
    prompt = tok.apply_chat_template(conv[:-1], tokenize=False, add_generation_prompt=True)
    assert tok.decode(ids[:mask.index(True)]) == prompt  # exactly what the model sees when generating


def test_multi_turn_masks_every_assistant_turn(tok):
    conv = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "first"},
            {"role": "user", "content": "b"}, {"role": "assistant", "content": "second"}]
    ids, mask = tokenize_conversation(conv, tok)
    runs, cur = [], []
    for i, m in zip(ids, mask):
        if m:
            cur.append(i)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    assert runs == ["first<|im_end|>", "second<|im_end|>"]


def test_selection_counts_each_reason():
    index = ContaminationIndex.build({"math500": ["what is the value of the sum of the first one hundred odd "
                                                  "positive integers when added"]}, n=8)
    rows = [_row(0, "q0", "ans \\boxed{1}"),
            _row(1, "q1", "cut off", finish_reason="length"),
            _row(2, "q2", "   ", verification="correct"),
            _row(3, "q3", "wrong \\boxed{2}", verification="wrong"),
            _row(4, "q4", "no answer here"),
            _row(5, "q5", "The answer 是 九 因为 十二 减 三 等于 九 \\boxed{9}"),
            _row(6, "what is the value of the sum of the first one hundred odd positive integers when added",
                 "\\boxed{10000}")]
    rows += [_row(10 + k, "same query", f"take {k} \\boxed{{{k}}}") for k in range(4)]
    kept, report = select_samples(rows, max_per_query=2, index=index)
    assert [r["id"] for r in kept] == ["s0", "s10", "s11"]
    assert report.removed == {"finish_length": 1, "empty_response": 1, "failed_verification": 1,
                              "no_final_answer": 1, "mixed_language": 1, "contaminated_query": 1,
                              "over_responses_per_query": 2}
    assert report.contaminated_by_benchmark == {"math500": 1}
    assert report.input == len(rows) == report.kept + sum(report.removed.values())


def test_mixed_script_share():
    assert mixed_script_share("The answer is 9, since α + β = 9.") == 0.0  # Greek math symbols are fine
    assert mixed_script_share("答案是九") == 0.0
    assert mixed_script_share("The answer 是九") > 0.1


def test_packing_keeps_samples_whole_and_pads_without_targets(tok, tmp_path):
    samples = [tokenize_conversation(_conv(f"question {k}", "Step 1: 12 - 3 = 9. \\boxed{9}" * (1 + k % 3)), tok)
               for k in range(9)]
    too_long = ([1] * 400, [True] * 400)
    stats = pack_sft(samples + [too_long], 192, tok.pad_token_id, tmp_path / "sft")
    assert stats.samples == 9 and stats.dropped_too_long == 1
    tokens = np.load(tmp_path / "sft/tokens.npy")
    positions = np.load(tmp_path / "sft/positions.npy").astype(np.int64)
    mask = np.load(tmp_path / "sft/loss_mask.npy")
    assert tokens.shape == positions.shape == mask.shape == (stats.rows, 192)
    assert int(mask.sum()) == sum(sum(m) for _, m in samples) == stats.target_tokens
    # every sample appears whole, starting at position 0, in some row
    found = 0
    for ids, m in samples:
        n = len(ids)
        for r in range(stats.rows):
            starts = np.flatnonzero(positions[r] == 0)
            if any(s + n <= 192 and tokens[r, s:s + n].tolist() == ids and positions[r, s + n - 1] == n - 1
                   and mask[r, s:s + n].tolist() == m for s in starts):
                found += 1
                break
    assert found == len(samples)
    reader = PackedDataset([tmp_path / "sft"], seed=0)
    _, _, batch_mask = reader.next_batch(2)
    assert batch_mask is not None and batch_mask.dtype == bool


def test_sft_loss_is_assistant_only_and_never_crosses_samples(tok, tmp_path):
    model = create_model("tiny", stage=1, tokenizer=tok, seed=0, hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=32).eval()
    samples = [tokenize_conversation(_conv(f"question {k}", "Step 1: 12 - 3 = 9.\nThe answer is \\boxed{9}."), tok)
               for k in range(3)]
    stats = pack_sft(samples, 512, tok.pad_token_id, tmp_path / "one-row")
    assert stats.rows == 1
    tokens, positions, mask = PackedDataset([tmp_path / "one-row"]).next_batch(1)
    ids = torch.from_numpy(tokens)
    labels = ids.clone()
    labels[~torch.from_numpy(mask)] = -100
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=torch.from_numpy(positions), labels=labels, mtp_loss_weight=0.0)
        total, count = 0.0, 0
        for sample_ids, sample_mask in samples:
            x = torch.tensor([sample_ids])
            lab = x.clone()
            lab[0, ~torch.tensor(sample_mask)] = -100
            alone = model(input_ids=x, labels=lab, mtp_loss_weight=0.0)
            n = sum(sample_mask[1:])  # targets at positions >= 1 (position 0 has no prefix)
            total, count = total + float(alone.main_loss) * n, count + n
    torch.testing.assert_close(float(packed.main_loss), total / count, rtol=1e-5, atol=1e-6)
