"""Resume never loads a broken checkpoint: a ``step-*`` directory without its ``COMPLETE`` marker (or
without trainer state / weights) is skipped with a warning and the previous complete one is used
(or training starts fresh); an interrupted delete never leaves a half-deleted ``step-*`` behind.
The last test runs the real trainer: resuming past a broken newest checkpoint gives the same final
weights as the uninterrupted run."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from mimo.train.checkpoint import (
    COMPLETE,
    STATE_FILE,
    latest_checkpoint,
    load_trainer_state,
    save_checkpoint,
)
from tests.cluster.conftest import REPO


class TinyModel:
    """What ``save_checkpoint`` needs of a model: ``save_pretrained``."""

    def save_pretrained(self, path: Path, safe_serialization: bool = True) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "config.json").write_text("{}")
        save_file({"w": torch.ones(4)}, str(Path(path) / "model.safetensors"))


@pytest.fixture
def ckpts(tmp_path) -> Path:
    root = tmp_path / "checkpoints"
    for step in (3, 6, 9):
        save_checkpoint(root, step, TinyModel(), {"tokens_done": step}, keep_last=3)
    return root


def test_missing_complete_marker_falls_back_with_a_warning(ckpts):
    (ckpts / "step-00000009" / COMPLETE).unlink()
    warnings: list[str] = []
    assert latest_checkpoint(ckpts, warn=warnings.append) == ckpts / "step-00000006"
    assert warnings == [f"skipping checkpoint {ckpts / 'step-00000009'}: no COMPLETE marker (half-written or half-deleted)",
                        f"resuming from the previous complete checkpoint {ckpts / 'step-00000006'}"]
    with pytest.raises(ValueError, match="no COMPLETE marker"):
        load_trainer_state(ckpts / "step-00000009")


def test_marker_without_weights_or_state_is_not_usable(ckpts):
    (ckpts / "step-00000009" / "model.safetensors").write_bytes(b"")
    (ckpts / "step-00000006" / STATE_FILE).unlink()
    warnings: list[str] = []
    assert latest_checkpoint(ckpts, warn=warnings.append) == ckpts / "step-00000003"
    assert "step-00000009: no model weights" in warnings[0] and f"step-00000006: no {STATE_FILE}" in warnings[1]
    assert load_trainer_state(ckpts / "step-00000003")["tokens_done"] == 3


def test_nothing_usable_starts_fresh_and_temp_dirs_are_ignored(ckpts, caplog):
    for step in (3, 6, 9):
        (ckpts / f"step-{step:08d}" / COMPLETE).unlink()
    (ckpts / "step-00000012.tmp-4242").mkdir()  # a kill -9 mid-write
    with caplog.at_level(logging.WARNING, logger="mimo.train.checkpoint"):
        assert latest_checkpoint(ckpts) is None  # default: warnings go to the module's logger
    assert "starting fresh" in caplog.text and "step-00000012" not in caplog.text


def test_deletes_never_leave_a_half_deleted_checkpoint(ckpts):
    # a kill -9 while deleting: the directory had already left the step-* namespace
    os.replace(ckpts / "step-00000003", ckpts / "step-00000003.trash-999")
    (ckpts / "step-00000003.trash-999" / "model.safetensors").unlink()
    assert latest_checkpoint(ckpts) == ckpts / "step-00000009"
    save_checkpoint(ckpts, 12, TinyModel(), {"tokens_done": 12}, keep_last=2)
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-00000009", "step-00000012"]
    save_checkpoint(ckpts, 12, TinyModel(), {"tokens_done": 12}, keep_last=2)  # the same step again: replaced whole
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step-00000009", "step-00000012"]


SMALL = {"preset": "tiny", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from mimo.data.packing import pack_documents
    from mimo.model.tokenizer import train_tokenizer
    from mimo.problems.toy import generate_toy_problems

    root = tmp_path_factory.mktemp("ckdata")
    texts = [p.prompt + "\n" + p.solution for p in generate_toy_problems(80, 20, seed=3)]
    tok = train_tokenizer(texts, vocab_size=400)
    tok.save_pretrained(root / "tok")
    pack_documents([tok(t)["input_ids"] for t in texts], 64, tok.convert_tokens_to_ids("<|endoftext|>"), root / "data")
    return root


def _train(data: Path, cfg_path: Path, out: Path) -> str:
    cfg = {"stage": "stage1", "data_dirs": [str(data / "data")], "out_dir": str(out), "tokenizer": str(data / "tok"),
           "model": SMALL, "stage_tokens": 64 * 4 * 9, "micro_batch_size": 2,
           "batch": {"start": 4, "end": 4, "warmup_tokens": 0}, "checkpoint_every_steps": 3, "keep_last": 3,
           "log_every_steps": 3, "eval_rows": 2, "threads": 1, "seed": 7}
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MIMO_STATE_DIR": str(cfg_path.parent / "state"),
           "MPLCONFIGDIR": str(cfg_path.parent / "mpl")}
    res = subprocess.run([sys.executable, "-m", "mimo.train.pretrain", "--config", str(cfg_path)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return res.stdout + res.stderr


def test_trainer_resumes_past_a_half_written_checkpoint(data, tmp_path):
    out = tmp_path / "stage1"
    _train(data, tmp_path / "train.yaml", out)
    reference = load_file(str(out / "final" / "model.safetensors"))
    ckpts = out / "checkpoints"
    assert [p.name for p in sorted(ckpts.glob("step-*"))] == ["step-00000003", "step-00000006", "step-00000009"]
    # the newest checkpoint looks half-written: no marker, truncated weights; the final model is gone
    (ckpts / "step-00000009" / COMPLETE).unlink()
    weights = ckpts / "step-00000009" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    shutil.rmtree(out / "final")
    log = _train(data, tmp_path / "train.yaml", out)
    assert f"skipping checkpoint {ckpts / 'step-00000009'}: no COMPLETE marker" in log, log[-3000:]
    assert f"resumed from {ckpts / 'step-00000006'} at step 6" in log, log[-3000:]
    resumed = load_file(str(out / "final" / "model.safetensors"))
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)
    assert latest_checkpoint(ckpts) == ckpts / "step-00000009"  # re-saved whole
