"""Training resumes after kill -9 with bit-identical final weights; half-written checkpoints are
never picked up; a finished stage says there is nothing to train; bad configs name the field."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from mimo.data.packing import pack_documents
from mimo.model.tokenizer import train_tokenizer
from mimo.problems.toy import generate_toy_problems
from mimo.train.checkpoint import latest_checkpoint
from mimo.train.config import load_train_config

REPO = Path(__file__).resolve().parents[2]
SMALL = {"preset": "tiny", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
         "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    texts = [p.prompt + "\n" + p.solution for p in generate_toy_problems(120, 40, seed=1)]
    tok = train_tokenizer(texts, vocab_size=400)
    tok.save_pretrained(root / "tok")
    pack_documents([tok(t)["input_ids"] for t in texts], 64, tok.convert_tokens_to_ids("<|endoftext|>"), root / "data")
    return root


def _config(data, out, **extra):
    cfg = {"stage": "stage1", "data_dirs": [str(data / "data")], "out_dir": str(out), "tokenizer": str(data / "tok"),
           "model": SMALL, "stage_tokens": 64 * 4 * 30, "micro_batch_size": 2,
           "batch": {"start": 4, "end": 4, "warmup_tokens": 0}, "checkpoint_every_steps": 3,
           "log_every_steps": 1, "eval_rows": 4, "threads": 1, "seed": 5, **extra}
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(cfg_path, **kw):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "mimo.train.pretrain", "--config", str(cfg_path)], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _weights(out):
    return load_file(str(out / "final/model.safetensors"))


def test_kill_9_then_resume_gives_identical_weights(data, tmp_path):
    ref = _run(_config(data, tmp_path / "ref"))
    assert ref.wait(timeout=300) == 0, ref.stdout.read()
    cfg = _config(data, tmp_path / "killed")
    proc = _run(cfg)
    ckpts = tmp_path / "killed/checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and (latest_checkpoint(ckpts) is None or latest_checkpoint(ckpts).name < "step-00000006"):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed/final").exists()
    # a half-written checkpoint from the killed process must never become "latest"
    (ckpts / "step-99999999.tmp-1").mkdir()
    (ckpts / "step-99999998").mkdir()
    resumed = _run(cfg)
    out = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, out
    assert "resumed from" in out and "step-9999999" not in out.split("resumed from", 1)[1].split("\n")[0]
    a, b = _weights(tmp_path / "ref"), _weights(tmp_path / "killed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    again = _run(cfg)
    out = again.communicate(timeout=300)[0]
    assert again.returncode == 0 and "nothing to train" in out


def test_bad_config_and_missing_upstream_are_clear(data, tmp_path):
    bad = _config(data, tmp_path / "bad", learning_rate=0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        load_train_config(bad)
    proc = _run(_config(data, tmp_path / "orphan", init_from=str(tmp_path / "no-such-stage")))
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0 and "is not a saved model" in out


def test_empty_shard_is_a_clear_error(data, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _run(_config(data, tmp_path / "e", data_dirs=[str(tmp_path / "empty")]))
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode != 0 and "missing or corrupt" in out
